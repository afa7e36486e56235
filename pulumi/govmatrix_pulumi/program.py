"""The program: every selected department of the estate, one component each."""

from __future__ import annotations

from typing import Any

import pulumi

from govmatrix.estate import EstateError, load_estate
from govmatrix.estate.federation import build as build_graph
from govmatrix.pki import partner_ca_texts
from govmatrix_pulumi import settings
from govmatrix_pulumi.department import Department


def build(config: pulumi.Config | None = None) -> dict[str, Any]:
    """Create the resources; return the stack outputs, per department."""
    stack = settings.read(config)
    try:
        estate = load_estate(stack.estate_file)
    except EstateError as exc:
        raise settings.SettingsError(str(exc)) from None
    graph = build_graph(estate)
    partner_cas = partner_ca_texts(stack.estate_file, estate)
    outputs: dict[str, Any] = {}
    for department in stack.select(estate):
        component = Department(
            estate,
            department,
            graph,
            partner_cas=partner_cas,
            pki_dir=stack.pki_dir,
            demo=stack.demo,
            issued=stack.issued,
        )
        entry: dict[str, Any] = {
            "url": component.url,
            "element_url": component.url,
            "namespace": component.namespace,
            "secret_names": component.secret_names,
        }
        if component.demo_passwords is not None:
            entry["demo_users"] = component.demo_passwords
        outputs[department.id] = entry
    return outputs
