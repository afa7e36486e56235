"""Render one department with govmatrix on the controller, for target onprem.

    {{ lookup('govmatrix_render', govmatrix_department,
              estate=govmatrix_estate_file, database_host=govmatrix_database_address) }}

returns one mapping (see `govmatrix.onprem.bundle`): the rendered files with their
destinations, owners and modes, the secrets the host must hold, and the target layout.
Secret-bearing files still carry `@@secret:NAME@@` placeholders; the govmatrix_files
module fills them in on the host. The files are byte for byte what
`govmatrix render --target onprem` writes.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: govmatrix_render
short_description: A department's config files from the govmatrix renderer (target onprem)
description:
  - Calls govmatrix.render on the controller; needs govmatrix importable there.
options:
  _terms:
    description: The department id.
    required: true
  estate:
    description: Path of the estate file.
    required: true
  database_host:
    description: Address Synapse and the archive reach PostgreSQL on (split database host).
    required: false
  pki_dir:
    description: Estate PKI directory; its ca.crt is included for the hosts' trust store.
    required: false
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

try:
    from govmatrix.estate import EstateError
    from govmatrix.onprem.bundle import BundleError, bundle
except ImportError as exc:  # pragma: no cover - depends on how Ansible was started
    IMPORT_ERROR: ImportError | None = exc
else:
    IMPORT_ERROR = None

# Rendering is pure, and every role of a play asks for the same department: render once.
_CACHE: dict[tuple[str, str, str, str], dict] = {}


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if IMPORT_ERROR is not None:
            raise AnsibleLookupError(
                "the govmatrix package is not importable on the controller; run Ansible "
                f"from the project's virtualenv: {IMPORT_ERROR}"
            )
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) != 1:
            raise AnsibleLookupError("govmatrix_render takes exactly one department id")
        estate = self.get_option("estate")
        database_host = self.get_option("database_host") or ""
        pki_dir = self.get_option("pki_dir") or ""
        key = (str(estate), str(terms[0]), str(database_host), str(pki_dir))
        if key not in _CACHE:
            try:
                _CACHE[key] = bundle(
                    estate,
                    terms[0],
                    database_host=database_host or None,
                    pki_dir=pki_dir or None,
                )
            except EstateError as exc:
                lines = "\n".join(f"  ✗ {p}" for p in exc.problems)
                raise AnsibleLookupError(f"the estate {estate} is invalid:\n{lines}") from None
            except (BundleError, KeyError, OSError) as exc:
                raise AnsibleLookupError(str(exc)) from None
        return [_CACHE[key]]
