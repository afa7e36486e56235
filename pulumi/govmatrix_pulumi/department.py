"""One department of the estate as a Pulumi component: its namespace and everything in it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi

from govmatrix.estate.federation import FederationGraph
from govmatrix.estate.schema import Department as DepartmentSettings
from govmatrix.estate.schema import Estate
from govmatrix.kube import Options, department_objects
from govmatrix.kube.demo import Demo
from govmatrix.kube.meta import namespace_of
from govmatrix.kube.secrets import kube_secrets
from govmatrix_pulumi import resources, secrets

TYPE = "govmatrix:estate:Department"


class Department(pulumi.ComponentResource):
    namespace: pulumi.Output[str]

    def __init__(
        self,
        estate: Estate,
        department: DepartmentSettings,
        graph: FederationGraph,
        *,
        partner_cas: Mapping[str, str],
        pki_dir: Path | None,
        demo: Demo | None,
        issued: pulumi.Output[Any] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, department.id, None, opts)
        options = Options(secrets="provided", partner_cas=partner_cas, demo=demo)
        objects = department_objects(estate, department, options, graph=graph)
        namespace = resources.create(department.id, objects[0], pulumi.ResourceOptions(parent=self))
        inside = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        made = secrets.create(
            department,
            secrets.generate(department, pulumi.ResourceOptions(parent=self), issued),
            secrets.pki_values(pki_dir),
            inside,
        )
        demo_passwords: dict[str, pulumi.Output[str]] = {}
        if demo is not None:
            users_secret, demo_passwords = secrets.demo_users(department, demo, inside)
            made.append(users_secret)
        settled = pulumi.ResourceOptions(parent=self, depends_on=[namespace, *made])
        services = [
            resources.create(department.id, item, settled)
            for item in objects[1:]
            if item["kind"] != "Job"
        ]
        # Jobs (schema migration, enrolment, demo users) run once the services are up.
        after = pulumi.ResourceOptions(parent=self, depends_on=[namespace, *made, *services])
        for item in objects[1:]:
            if item["kind"] == "Job":
                resources.create(department.id, item, after)
        self.namespace = pulumi.Output.from_input(namespace_of(department))
        self.url = pulumi.Output.from_input(f"https://{department.server_name}")
        self.secret_names = pulumi.Output.from_input(
            sorted(s.name for s in kube_secrets(department))
        )
        self.demo_passwords = pulumi.Output.secret(demo_passwords) if demo_passwords else None
        self.register_outputs(
            {"namespace": self.namespace, "url": self.url, "secret_names": self.secret_names}
        )
