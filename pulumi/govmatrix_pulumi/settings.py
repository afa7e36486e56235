"""The stack's settings, from `Pulumi.<stack>.yaml` (namespace `govmatrix`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from govmatrix.estate.schema import Department, Estate
from govmatrix.kube.demo import Demo

PROJECT_DIR = Path(__file__).resolve().parents[1]


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class StackSettings:
    estate_file: Path
    # "kubernetes": the departments whose estate target is kubernetes; "all"; or ids.
    departments: str | list[str]
    pki_dir: Path | None  # the estate CA (govmatrix pki), for departments without ClusterIssuer
    image_registry: str | None  # overrides the estate's mirror for this cluster
    demo: Demo | None
    # Values issued elsewhere (an external issuer's client secret, the directory's bind
    # password), by department and secret name: the stack's secret config `govmatrix:issued`.
    issued: pulumi.Output[Any] | None = None

    def select(self, estate: Estate) -> list[Department]:
        if self.departments == "kubernetes":
            chosen = [d for d in estate.departments if d.target == "kubernetes"]
        elif self.departments == "all":
            chosen = list(estate.departments)
        elif isinstance(self.departments, list):
            try:
                chosen = [estate.department(d) for d in self.departments]
            except KeyError as exc:
                raise SettingsError(f"govmatrix:departments: {exc.args[0]}") from None
        else:
            raise SettingsError(
                "govmatrix:departments must be 'kubernetes', 'all' or a list of department ids"
            )
        if not chosen:
            raise SettingsError(
                f"no departments to deploy from {self.estate_file} (govmatrix:departments is "
                f"{self.departments!r}; does any department have target: kubernetes?)"
            )
        if self.image_registry:
            chosen = [_with_registry(d, self.image_registry) for d in chosen]
        return chosen


def _with_registry(department: Department, registry: str) -> Department:
    kubernetes = department.kubernetes.model_copy(update={"image_registry": registry})
    return department.model_copy(update={"kubernetes": kubernetes})


def _path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else (PROJECT_DIR / path).resolve()


def read(config: pulumi.Config | None = None) -> StackSettings:
    config = config or pulumi.Config("govmatrix")
    estate = config.get("estate")
    if not estate:
        raise SettingsError(
            "set the estate file: "
            "pulumi config set govmatrix:estate ../inventories/<env>/estate.yml"
        )
    # A word in the stack file arrives as text; a YAML list arrives as JSON.
    raw = config.get("departments") or "kubernetes"
    departments = json.loads(raw) if raw.lstrip().startswith("[") else raw.strip()
    pki = config.get("pkiDir") or None
    return StackSettings(
        estate_file=_path(estate),
        departments=departments,
        pki_dir=_path(pki) if pki else None,
        image_registry=config.get("imageRegistry") or None,
        demo=_demo(config.get("demo")),
        issued=config.get_secret_object("issued"),
    )


def _demo(raw: str | None) -> Demo | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict) or "expires" not in value:
        raise SettingsError("govmatrix:demo must be {expires: YYYY-MM-DD, users: [...]}")
    users = value.get("users")
    return (
        Demo(str(value["expires"])) if users is None else Demo(str(value["expires"]), tuple(users))
    )
