"""A Synapse configuration for restore drills, derived from the department's own.

It starts on a restored database and can disturb nothing: one loopback listener for the
client and key APIs only (no federation resource), an empty federation whitelist, no
federation sending, no pushers, no key servers, and no application services, so it never
replays transactions to the live archive.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

# Synapse must not write secrets from its config back out (the drill's config has none).
NO_SECRETS = ("--no-secrets-in-config",)

# Worker wiring of the live topology; the drill runs one process.
WORKER_KEYS = (
    "instance_map",
    "redis",
    "stream_writers",
    "run_background_tasks_on",
    "media_instance_running_background_jobs",
    "notify_appservices_from_worker",
    "update_user_directory_from_worker",
    "worker_replication_secret_path",
    "outbound_federation_restricted_to",
)


def isolated(
    live: dict[str, Any],
    *,
    workdir: Path,
    port: int,
    database: dict[str, Any],
    media_store: Path,
    signing_key: Path,
) -> dict[str, Any]:
    config = {k: v for k, v in live.items() if k not in WORKER_KEYS}
    config.update(
        {
            "pid_file": str(workdir / "synapse.pid"),
            "listeners": [
                {
                    "port": port,
                    "type": "http",
                    "tls": False,
                    "bind_addresses": ["127.0.0.1"],
                    "x_forwarded": False,
                    "resources": [{"names": ["client", "keys"], "compress": False}],
                }
            ],
            "database": {**live["database"], "args": {**live["database"]["args"], **database}},
            "log_config": str(workdir / "synapse.log.yaml"),
            "media_store_path": str(media_store),
            "signing_key_path": str(signing_key),
            "federation_domain_whitelist": [],
            "federation_sender_instances": [],
            "pusher_instances": [],
            "trusted_key_servers": [],
            "app_service_config_files": [],
            "url_preview_enabled": False,
            "enable_metrics": False,
        }
    )
    return config


def log_config(workdir: Path) -> str:
    return yaml.safe_dump(
        {
            "version": 1,
            "formatters": {"plain": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "filename": str(workdir / "synapse.log"),
                    "formatter": "plain",
                }
            },
            "root": {"level": "INFO", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
    )


def start(python: str | Path, config: Path, owner: tuple[int, int]) -> subprocess.Popen[bytes]:
    """The isolated Synapse, as the department's Synapse user, logging next to its config."""
    command = [str(python), "-m", "synapse.app.homeserver", "-c", str(config), *NO_SECRETS]
    with (config.parent / "synapse.stdout.log").open("ab") as log:
        return subprocess.Popen(
            command,
            cwd=config.parent,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            user=owner[0],
            group=owner[1],
            extra_groups=[],
        )
