"""Rendered config files as one ConfigMap, and the volumes that bring them into pods.

The ConfigMap holds `govmatrix render --target kubernetes` byte for byte. Secret-bearing
files hold placeholders only; an init container (`govmatrix kube assemble-config`) fills them from
the department's Secret into a memory-backed volume when the pod starts, so no filled file
is ever stored in a ConfigMap or on a node's disk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from govmatrix.estate.schema import Department
from govmatrix.kube import security, tls
from govmatrix.kube.meta import CONFIG_HASH, CONFIG_MAP, SECRETS, metadata, obj
from govmatrix.kube.sizing import INIT
from govmatrix.render import RenderedFile

Obj = dict[str, Any]

RENDERED_MOUNT = "/rendered"
SECRET_VALUES_MOUNT = "/secret-values"


def key_of(path: str) -> str:
    """ConfigMap keys cannot hold '/'; '__' cannot occur in a rendered path."""
    return path.replace("/", "__")


def config_map(department: Department, files: Mapping[str, RenderedFile]) -> Obj:
    return obj(
        "v1",
        "ConfigMap",
        metadata(department, CONFIG_MAP, "govmatrix", "config"),
        data={key_of(path): item.text for path, item in sorted(files.items())},
    )


def select(files: Mapping[str, RenderedFile], prefix: str) -> dict[str, RenderedFile]:
    return {path: item for path, item in files.items() if path.startswith(prefix)}


def config_hash(files: Mapping[str, RenderedFile]) -> dict[str, str]:
    """Pod annotation that changes with the pod's config, so a change rolls the pods."""
    digest = hashlib.sha256()
    for path, item in sorted(files.items()):
        digest.update(f"{path}\0{item.text}\0".encode())
    return {CONFIG_HASH: digest.hexdigest()}


def rendered_volume(files: Mapping[str, RenderedFile]) -> Obj:
    items = [{"key": key_of(path), "path": path} for path in sorted(files)]
    return {"name": "rendered", "configMap": {"name": CONFIG_MAP, "items": items}}


def secret_values_volume() -> Obj:
    return {"name": "secret-values", "secret": {"secretName": SECRETS, "defaultMode": 0o400}}


def secret_files_volume(files: Mapping[str, str]) -> Obj:
    """Secret values Synapse or the archive read by path: key -> file name."""
    items = [{"key": key, "path": path} for key, path in sorted(files.items())]
    return {
        "name": "secret-files",
        "secret": {"secretName": SECRETS, "items": items, "defaultMode": 0o400},
    }


def assemble_init(image: str, uid: int, config_dir: str, trust_ca: str | None = None) -> Obj:
    """The init container that writes the pod's config directory; with `trust_ca` (a CA
    file, whose folder the pod mounts as `estate-ca`), also the trust bundle
    (govmatrix.kube.assemble.trust_bundle)."""
    extra_args = ["--trust-ca", trust_ca] if trust_ca else []
    extra_mounts = [tls.ca_mount(trust_ca.rsplit("/", 1)[0])] if trust_ca else []
    return security.container(
        "assemble-config",
        image,
        uid,
        INIT,
        command=[
            "govmatrix",
            "kube",
            "assemble-config",
            "--from",
            RENDERED_MOUNT,
            "--secrets",
            SECRET_VALUES_MOUNT,
            "--to",
            config_dir,
            *extra_args,
        ],
        volumeMounts=[
            {"name": "rendered", "mountPath": RENDERED_MOUNT, "readOnly": True},
            {"name": "secret-values", "mountPath": SECRET_VALUES_MOUNT, "readOnly": True},
            {"name": "config", "mountPath": config_dir},
            *extra_mounts,
        ],
    )


def config_volumes(files: Mapping[str, RenderedFile]) -> list[Obj]:
    return [rendered_volume(files), secret_values_volume(), security.memory_dir("config")]
