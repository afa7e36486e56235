"""The demo's sign-in portals: one LemonLDAP::NG per `bundled` department.

Each is Debian's FastCGI server (`llng-fastcgi-server`) with its own configuration file
(LLNG_DEFAULTCONFFILE, rendered into the department's config dir), listening on the
department's loopback address. nginx serves it as `auth.<server name>` with the estate
certificate. It authenticates people against the department's directory (slapd) and is the
OpenID Connect provider of the department's Synapse.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from govmatrix.demo.layout import DEMO_USER
from govmatrix.demo.supervisor import Program
from govmatrix.demo.system import chown_tree, listening, wait_for
from govmatrix.estate.schema import Department
from govmatrix.identity import portal
from govmatrix.render import paths
from govmatrix.render.context import make_context, runs_identity_provider

if TYPE_CHECKING:
    from govmatrix.demo.stack import DemoStack


def departments(stack: DemoStack) -> list[Department]:
    return [d for d in stack.estate.departments if runs_identity_provider(d, stack.target(d))]


def _state_dir(stack: DemoStack, dept: Department) -> Path:
    return Path(
        make_context(stack.estate, dept, stack.target(dept), stack.graph).identity_state_dir
    )


def programs(stack: DemoStack) -> list[Program]:
    out = []
    for dept in departments(stack):
        t = stack.target(dept)
        out.append(
            Program(
                f"identity-{dept.id}",
                tuple(
                    portal.fastcgi_command(
                        f"{t.synapse_address}:{t.identity_port}",
                        str(_state_dir(stack, dept) / "fastcgi.pid"),
                    )
                ),
                stack.layout.logs / f"identity-{dept.id}.log",
                user=DEMO_USER,
                env=portal.environment(f"{t.config_dir}/{paths.IDENTITY_PROVIDER_INI}"),
            )
        )
    return out


def prepare(stack: DemoStack) -> None:
    """Session directories, and the rendered configuration (which holds the client secret
    and signing key, 0600) readable by the demo user the portal runs as."""
    for dept in departments(stack):
        state = _state_dir(stack, dept)
        for sub in portal.STATE_DIRS:
            (state / sub).mkdir(parents=True, exist_ok=True)
        state.chmod(0o700)
        chown_tree(state, DEMO_USER)
        chown_tree(Path(stack.target(dept).config_dir) / "identity", DEMO_USER)


def wait_listening(stack: DemoStack) -> None:
    for dept in departments(stack):
        t = stack.target(dept)
        wait_for(
            lambda t=t: listening(t.synapse_address, t.identity_port),  # type: ignore[misc]
            f"identity-{dept.id}",
            60,
        )
