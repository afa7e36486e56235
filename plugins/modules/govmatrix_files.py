#!/usr/bin/python
"""Write a component's rendered files in one call; secret placeholders filled on the host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: govmatrix_files
short_description: Deploy a govmatrix component's directories and rendered files at once
description:
  - Creates I(directories) and writes I(files) in one module call (one round trip per
    component, not one per file). Each file is written atomically and only when its bytes,
    owner or mode differ.
  - Files marked secret carry C(@@secret:NAME@@) placeholders from the govmatrix renderer.
    Each is replaced on the host with the secret file of that name in I(secrets_dir), and the
    owner and mode are set before the file appears. Diffs show placeholders, never values.
options:
  directories:
    description: Directories to create first (path, owner, mode); owner is also the group.
    type: list
    elements: dict
    default: []
  files:
    description: Files (dest, content, owner, mode, secret); owner is also the group.
    type: list
    elements: dict
    default: []
  secrets_dir:
    description: The department's secrets directory (needed when a file is secret).
    type: path
  secrets:
    description: Secret specs from the govmatrix_render lookup (name and file).
    type: list
    elements: dict
    default: []
"""

import grp
import json
import os
import pwd
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule

# `@@secret:NAME:json@@` is filled JSON-escaped (a PEM key inside a JSON string), as in
# govmatrix.render.secrets.fill.
PLACEHOLDER = re.compile(r"@@secret:([a-z0-9_]+)(?::json)?@@")


def fill(template, values):
    def one(match):
        value = values[match.group(1)]
        return json.dumps(value)[1:-1] if match.group(0).endswith(":json@@") else value

    return PLACEHOLDER.sub(one, template)


class UnknownOwner(KeyError):
    pass


def ids(owner):
    try:
        return pwd.getpwnam(owner).pw_uid, grp.getgrnam(owner).gr_gid
    except KeyError:
        raise UnknownOwner(owner) from None


def ensure_directory(module, spec):
    path, mode = spec["path"], int(spec["mode"], 8)
    uid, gid = ids(spec["owner"])
    if not os.path.isdir(path):
        if not module.check_mode:
            os.makedirs(path, exist_ok=True)
            os.chown(path, uid, gid)
            os.chmod(path, mode)
        return True
    st = os.stat(path)
    if (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (uid, gid, mode):
        return False
    if not module.check_mode:
        os.chown(path, uid, gid)
        os.chmod(path, mode)
    return True


def secret_values(module, names):
    files = {s["name"]: s["file"] for s in module.params["secrets"]}
    values = {}
    for name in sorted(names):
        if name not in files:
            module.fail_json(msg=f"a rendered file needs secret '{name}', which no spec names")
        path = os.path.join(module.params["secrets_dir"] or "", files[name])
        if not os.path.exists(path):
            if module.check_mode:
                return None  # created earlier in this check-mode run: nothing to compare
            module.fail_json(msg=f"secret file {path} is missing; run govmatrix_secrets first")
        with open(path, encoding="utf-8") as handle:
            values[name] = handle.read()
    return values


def mask(text, values):
    # Longest first, so a value that contains another is masked whole; JSON-escaped forms
    # too (a PEM key in a JSON file), so a diff never shows a secret.
    forms = []
    for name, value in values.items():
        if value:
            forms.append((value, f"@@secret:{name}@@"))
            escaped = json.dumps(value)[1:-1]
            if escaped != value:
                forms.append((escaped, f"@@secret:{name}:json@@"))
    for value, marker in sorted(forms, key=lambda item: -len(item[0])):
        text = text.replace(value, marker)
    return text


def write(path, data, uid, gid, mode):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".govmatrix-")
    try:
        # Owner and mode are set before the rename: a secret is never readable by others.
        os.fchmod(fd, 0o600)
        os.fchown(fd, uid, gid)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def ensure_file(module, spec, values):
    """Returns (changed, diff or None)."""
    dest, mode = spec["dest"], int(spec["mode"], 8)
    template = spec["content"]
    text = fill(template, values) if spec.get("secret") else template
    data = text.encode("utf-8")
    uid, gid = ids(spec["owner"])
    before = None
    if os.path.exists(dest):
        with open(dest, "rb") as handle:
            before = handle.read()
    st = os.stat(dest) if before is not None else None
    same_bytes = before == data
    same_attrs = st is not None and (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (uid, gid, mode)
    if same_bytes and same_attrs:
        return False, None
    if not module.check_mode:
        if same_bytes:
            os.chown(dest, uid, gid)
            os.chmod(dest, mode)
        else:
            write(dest, data, uid, gid, mode)
    diff = None
    if not same_bytes:
        old = (before or b"").decode("utf-8", errors="replace")
        diff = {
            "before_header": dest,
            "after_header": dest,
            "before": mask(old, values) if spec.get("secret") else old,
            "after": template,
        }
    return True, diff


def main():
    module = AnsibleModule(
        argument_spec={
            "directories": {"type": "list", "elements": "dict", "default": []},
            "files": {"type": "list", "elements": "dict", "default": []},
            "secrets_dir": {"type": "path"},
            "secrets": {"type": "list", "elements": "dict", "default": []},
        },
        supports_check_mode=True,
    )
    try:
        run(module)
    except UnknownOwner as exc:
        if module.check_mode:  # the account is created earlier in this (check-mode) run
            module.exit_json(changed=True, msg=f"user {exc.args[0]} does not exist yet")
        module.fail_json(msg=f"user and group {exc.args[0]!r} do not exist on the host")


def run(module):
    changed_paths = []
    for spec in module.params["directories"]:
        if ensure_directory(module, spec):
            changed_paths.append(spec["path"])
    needed = set()
    for spec in module.params["files"]:
        if spec.get("secret"):
            needed |= set(PLACEHOLDER.findall(spec["content"]))
    values = secret_values(module, needed) if needed else {}
    if values is None:
        module.exit_json(changed=True, msg="secrets not created yet (check mode)")
    diffs = []
    for spec in module.params["files"]:
        if module.check_mode and not os.path.isdir(os.path.dirname(spec["dest"])):
            changed_paths.append(spec["dest"])  # its directory is created in this run
            continue
        changed, diff = ensure_file(module, spec, values)
        if changed:
            changed_paths.append(spec["dest"])
        if diff:
            diffs.append(diff)
    result = {"changed": bool(changed_paths), "changed_paths": changed_paths}
    if module._diff and diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
