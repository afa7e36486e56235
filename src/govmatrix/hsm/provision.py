"""`govmatrix hsm init`: tokens (SoftHSM2 only) and keys, created once and then left alone."""

from __future__ import annotations

from dataclasses import dataclass, field

from govmatrix.hsm import keys, softhsm
from govmatrix.hsm.device import HsmError, session
from govmatrix.hsm.plan import HsmPlan


@dataclass
class InitReport:
    tokens_created: list[str] = field(default_factory=list)
    keys: list[keys.KeyState] = field(default_factory=list)


def init(hsm: HsmPlan) -> InitReport:
    return init_all([hsm])[hsm.department_id]


def init_all(plans: list[HsmPlan]) -> dict[str, InitReport]:
    """Several departments sharing one SoftHSM2 directory (the demo): tokens first, so the
    module rescans its token directory once, then keys."""
    reports = {hsm.department_id: InitReport() for hsm in plans}
    for hsm in plans:
        if hsm.is_softhsm:
            reports[hsm.department_id].tokens_created = softhsm.ensure_tokens(hsm)
    for hsm in plans:
        reports[hsm.department_id].keys = keys.ensure(hsm)
    return reports


def check(hsm: HsmPlan) -> list[str]:
    """Problems that would stop a service from using its keys; empty when all is well."""
    problems = []
    for token in hsm.tokens:
        try:
            with session(hsm, token) as sess:
                for key in hsm.keys.values():
                    if key.token == token:
                        keys.require(sess, key, hsm.department_id)
        except HsmError as exc:
            problems.append(str(exc))
    return problems
