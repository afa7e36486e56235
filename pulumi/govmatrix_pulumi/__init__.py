"""The Pulumi program's parts: stack settings, secrets, and a component per department."""
