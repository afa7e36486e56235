"""Ansible's linear strategy, run through Mitogen (the `mitogen` package from PyPI).

Mitogen keeps one Python interpreter per host for the whole play and sends modules to it
over that channel, so a task costs one message instead of a fresh `ssh`/`docker exec` and
a Python start-up on the host. On a converged department host that is most of a task's
time (bench/ansible_converge.py). ansible.cfg makes it findable, and each play in
playbooks/ selects it; `-e govmatrix_ansible_strategy=linear` runs without Mitogen.
"""

from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule

__all__ = ["StrategyModule"]
