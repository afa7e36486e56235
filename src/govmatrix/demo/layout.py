"""Where the demo keeps its state. Everything lives under one root, so `reset` is one rm."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from govmatrix.estate.schema import Department, Estate
from govmatrix.render import Target, target_for

DEMO_USER = "govmatrix-demo"  # runs Synapse; PostgreSQL runs as Debian's 'postgres'


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def supervisord_conf(self) -> Path:
        return self.root / "supervisord.conf"

    @property
    def supervisor_socket(self) -> Path:
        return self.run / "supervisor.sock"

    @property
    def supervisord_pid(self) -> Path:
        return self.run / "supervisord.pid"

    @property
    def nginx_conf(self) -> Path:
        return self.root / "nginx" / "nginx.conf"

    @property
    def element(self) -> Path:
        return self.root / "element"

    @property
    def credentials(self) -> Path:
        return self.root / "credentials.json"

    @property
    def seeded(self) -> Path:
        return self.root / "seeded.json"

    @property
    def estate_copy(self) -> Path:
        return self.root / "estate.yml"

    def department(self, dept_id: str) -> Path:
        return self.root / dept_id

    def pgdata(self, dept_id: str) -> Path:
        return self.department(dept_id) / "postgres"

    def pgsocket(self, dept_id: str) -> Path:
        return self.department(dept_id) / "pgsocket"

    def secret_values(self, dept_id: str) -> Path:
        """Every generated secret value of a department (0600), for deploys after the first."""
        return self.department(dept_id) / "secret-values.json"

    def target(self, estate: Estate, department: Department) -> Target:
        return target_for("demo", estate, department, root=str(self.root))
