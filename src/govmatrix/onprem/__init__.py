"""On-prem racks: what the Ansible roles and plugins need from the estate and renderer."""
