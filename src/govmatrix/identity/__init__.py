"""Identity per department: single sign-on from the department's directory, and leavers.

- `directory`: reads the department's directory (OpenLDAP or Active Directory) over LDAP;
- `sync`: compares it with the homeserver's users and deactivates leavers, behind a guard;
- `slapd`: a department directory of its own (OpenLDAP), for the demo and the tests.
"""

from __future__ import annotations

# Synapse's idp_id for the department's OpenID Connect provider. Synapse prefixes it with
# "oidc-", and records each SSO user's subject under that name (user_external_ids).
IDP_ID = "directory"
AUTH_PROVIDER = f"oidc-{IDP_ID}"
