"""On-prem racks: what the Ansible roles and plugins need from the estate and renderer."""

# The system users and Synapse's virtualenv the roles create (roles/synapse, roles/archive).
SYNAPSE_USER = "matrix-synapse"
ARCHIVE_USER = "govmatrix-archive"
SYNAPSE_PYTHON = "/opt/govmatrix/synapse/bin/python"
