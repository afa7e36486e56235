"""Ansible inventory from a govmatrix estate and an environment's hosts file.

Enable it in ansible.cfg (`enable_plugins = govmatrix_estate, ...`, done in this repo) and
point Ansible at `inventories/<env>/hosts.govmatrix.yml`:

    plugin: govmatrix_estate
    estate: estate.yml            # relative to this file
    pki_dir: .pki                 # estate CA directory (`govmatrix pki init --dir`)
    vars: {}                      # variables for every host (mirror URLs, apt proxy)
    hosts:
      msg1.cabinet-office.example:
        department: cabinet-office
        components: all           # or a list: postgresql, synapse, ...
        vars: {ansible_host: 10.10.0.5}

The logic lives in `govmatrix.onprem.inventory`; this file adapts it to Ansible. Estate
errors are reported exactly as `govmatrix validate` prints them.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: govmatrix_estate
short_description: Departments of a govmatrix estate as groups, hosts from a hosts file
description:
  - Reads the estate file named by the hosts file, validates it with govmatrix, and makes
    one group per department (department_<id>) and one per component (govmatrix_<component>).
  - Needs the govmatrix package importable on the controller (run Ansible from its venv).
options:
  plugin:
    description: Must be govmatrix_estate.
    required: true
    choices: [govmatrix_estate]
"""

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

# Importing the renderer here, in Ansible's main process, means every forked worker that
# runs the govmatrix_render lookup inherits it instead of importing it again (~0.4 s each).
try:
    from govmatrix.estate import EstateError
    from govmatrix.onprem import bundle as _preload  # noqa: F401
    from govmatrix.onprem.inventory import load
    from govmatrix.onprem.placement import PlacementError
except ImportError as exc:  # pragma: no cover - depends on how Ansible was started
    IMPORT_ERROR: ImportError | None = exc
else:
    IMPORT_ERROR = None


class InventoryModule(BaseInventoryPlugin):
    NAME = "govmatrix_estate"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("govmatrix.yml", "govmatrix.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        if IMPORT_ERROR is not None:
            raise AnsibleParserError(
                "the govmatrix package is not importable on the controller; run Ansible "
                f"from the project's virtualenv (.venv/bin/ansible-playbook): {IMPORT_ERROR}"
            )
        config = self.loader.load_from_file(path, cache="none")
        if not isinstance(config, dict) or config.get("plugin") != self.NAME:
            raise AnsibleParserError(f"{path}: not a govmatrix_estate inventory")
        try:
            built = load(dict(config), path)
        except EstateError as exc:
            noun = "problem" if len(exc.problems) == 1 else "problems"
            lines = "\n".join(f"  ✗ {p}" for p in exc.problems)
            raise AnsibleParserError(
                f"the estate named by {path} is invalid ({len(exc.problems)} {noun}):\n{lines}"
            ) from None
        except PlacementError as exc:
            lines = "\n".join(f"  ✗ {p}" for p in exc.problems)
            raise AnsibleParserError(f"{path} does not fit the estate:\n{lines}") from None
        for group, hosts in built.groups.items():
            self.inventory.add_group(group)
            for host in hosts:
                self.inventory.add_host(host, group=group)
        for group, variables in built.group_vars.items():
            for key, value in variables.items():
                self.inventory.set_variable(group, key, value)
        for host, variables in built.host_vars.items():
            for key, value in variables.items():
                self.inventory.set_variable(host, key, value)
