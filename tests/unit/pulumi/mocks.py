"""Run the Pulumi program in-process under `pulumi.runtime.set_mocks`: no CLI, no cluster.

The mock engine records every resource registration; random providers' outputs are made
up here (as secrets, as the real provider marks them)."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.rpc import wrap_rpc_secret

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "pulumi"))

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"  # pulumi's marker of a secret value
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG


@dataclass
class Recorded:
    typ: str
    name: str
    inputs: dict[str, Any]
    parent: str | None


@dataclass
class Mocks(pulumi.runtime.Mocks):
    resources: list[Recorded] = field(default_factory=list)
    counter: int = 0

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        self.counter += 1
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = wrap_rpc_secret(
                f"pw{self.counter:04d}".ljust(int(args.inputs["length"]), "x")
            )
        if args.typ == "random:index/randomBytes:RandomBytes":
            seed = self.counter.to_bytes(32, "big")
            outputs["base64"] = wrap_rpc_secret(base64.b64encode(seed).decode())
        self.resources.append(Recorded(args.typ, args.name, dict(args.inputs), None))
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.typ == typ]


@dataclass
class Run:
    mocks: Mocks
    outputs: dict[str, Any]


SECRET_CONFIG = frozenset({"issued"})


def issued_values(estate_file: Path) -> dict[str, dict[str, str]]:
    """Made-up values for every secret the estate's departments take from elsewhere, as an
    operator gives them with `pulumi config set --secret --path govmatrix:issued...`."""
    from govmatrix.estate import load_estate
    from govmatrix.kube.secrets import Issued, generated_values

    out: dict[str, dict[str, str]] = {}
    for dept in load_estate(estate_file).departments:
        for value in generated_values(dept):
            if isinstance(value, Issued):
                out.setdefault(dept.id, {})[value.name] = f"issued-{dept.id}-{value.name}"
    return out


def run_program(config: dict[str, Any]) -> Run:
    """Run pulumi/__main__'s program with stack config `config` (keys without namespace)."""
    from govmatrix_pulumi.program import build

    mocks = Mocks()
    # The SDK runs on the thread's current event loop; an earlier asyncio.run() in the same
    # process (other tests) leaves none, so each run gets a fresh one.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    pulumi.runtime.set_mocks(mocks, project="govmatrix", stack="test", preview=False)
    pulumi.runtime.set_all_config(
        {f"govmatrix:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()},
        # As `pulumi config set --secret` marks them.
        [f"govmatrix:{k}" for k in config if k in SECRET_CONFIG],
    )
    result: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        return pulumi.Output.from_input(build()).apply(result.update)

    try:
        program()
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    return Run(mocks, result)
