#!/usr/bin/python
"""Write a rendered file whose secret placeholders are filled in on the host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: govmatrix_secret_file
short_description: Fill a rendered govmatrix file's secret placeholders on the host
description:
  - I(content) is a file from the govmatrix renderer with C(@@secret:NAME@@) placeholders.
    Each is replaced with the host's secret file of that name, and the result is written
    atomically, only when it differs. Diffs show placeholders, never values.
options:
  dest: {description: Destination path., type: path, required: true}
  content: {description: Rendered text with placeholders., type: str, required: true}
  secrets_dir: {description: The department's secrets directory., type: path, required: true}
  secrets: {description: Secret specs (name and file)., type: list, elements: dict, required: true}
  owner: {description: Owner (and group) of the file., type: str, required: true}
  mode: {description: File mode., type: str, default: "0600"}
"""

import os
import pwd
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule

PLACEHOLDER = re.compile(r"@@secret:([a-z0-9_]+)@@")


def read_values(module, secrets_dir, specs, names):
    files = {s["name"]: s["file"] for s in specs}
    values = {}
    for name in sorted(names):
        if name not in files:
            module.fail_json(msg=f"the rendered file needs secret '{name}', which no spec names")
        path = os.path.join(secrets_dir, files[name])
        if not os.path.exists(path):
            if module.check_mode:
                return None  # created earlier in this (check-mode) run: nothing to compare
            module.fail_json(msg=f"secret file {path} is missing; run govmatrix_secrets first")
        with open(path, encoding="utf-8") as handle:
            values[name] = handle.read()
    return values


def mask(text, values):
    # Longest first, so a value that contains another is masked whole.
    for name, value in sorted(values.items(), key=lambda item: -len(item[1])):
        if value:
            text = text.replace(value, f"@@secret:{name}@@")
    return text


def main():
    module = AnsibleModule(
        argument_spec={
            "dest": {"type": "path", "required": True},
            "content": {"type": "str", "required": True},
            "secrets_dir": {"type": "path", "required": True},
            "secrets": {"type": "list", "elements": "dict", "required": True},
            "owner": {"type": "str", "required": True},
            "mode": {"type": "str", "default": "0600"},
        },
        supports_check_mode=True,
    )
    p = module.params
    template = p["content"]
    values = read_values(module, p["secrets_dir"], p["secrets"], set(PLACEHOLDER.findall(template)))
    if values is None:
        module.exit_json(changed=True, msg="secrets not created yet (check mode)")
    text = PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
    dest = p["dest"]
    before = None
    if os.path.exists(dest):
        with open(dest, encoding="utf-8", errors="replace") as handle:
            before = handle.read()
    changed = before != text
    if changed and not module.check_mode:
        # Owner and mode are set before the rename, so the secret is never readable by others.
        user = pwd.getpwnam(p["owner"])
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".tmp-")
        os.fchmod(fd, 0o600)
        os.fchown(fd, user.pw_uid, user.pw_gid)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, int(p["mode"], 8))
        os.replace(tmp, dest)
    attrs = module.load_file_common_arguments(
        {"owner": p["owner"], "group": p["owner"], "mode": p["mode"]}, path=dest
    )
    if os.path.exists(dest):
        changed = module.set_fs_attributes_if_different(attrs, changed)
    result = {"changed": changed, "dest": dest}
    if module._diff and before != text:
        result["diff"] = {
            "before": mask(before or "", values),
            "after": template,
            "before_header": dest,
            "after_header": dest,
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
