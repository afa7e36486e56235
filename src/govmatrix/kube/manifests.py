"""Objects as YAML files, one folder per department, with a kustomization listing them,
for review and for GitOps tools (Argo CD, Flux) that apply a folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (rendered config files) as literal blocks, readable in review."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(item: Obj) -> str:
    return yaml.dump(item, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)


def file_name(item: Obj) -> str:
    return f"{item['kind'].lower()}-{item['metadata']['name']}.yaml"


def stale(folder: Path, objects: list[Obj]) -> list[Path]:
    """YAML files in the folder that no longer name an object (never deleted for you: the
    kustomization no longer lists them)."""
    wanted = {file_name(item) for item in objects} | {"kustomization.yaml"}
    return sorted(p for p in folder.glob("*.yaml") if p.name not in wanted)


def write_department(folder: Path, objects: list[Obj]) -> list[Path]:
    """Write one file per object and the kustomization that lists them."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [file_name(item) for item in objects]
    if len(set(names)) != len(names):
        raise ValueError(f"two objects share a file name in {folder}")
    written = []
    for name, item in zip(names, objects, strict=True):
        written.append(_write(folder / name, to_yaml(item)))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": names,
    }
    written.append(_write(folder / "kustomization.yaml", to_yaml(kustomization)))
    return written


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return path
