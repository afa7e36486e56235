"""Run with the Synapse virtualenv's Python: load configs with Synapse's own parser.

Usage: python synapse_config_probe.py JOBS.json
JOBS.json is a list of {"name": ..., "configs": [homeserver.yaml, (worker.yaml)]}.
Prints a JSON list of {"name", "ok", "error", "facts"} where facts are values read back
from the parsed config, so the caller can check Synapse understood what we meant.
"""

import json
import sys
import traceback

import synapse
from synapse.config.homeserver import HomeServerConfig


def facts(config: HomeServerConfig) -> dict:
    return {
        "synapse_version": synapse.__version__,
        "server_name": config.server.server_name,
        "federation_domain_whitelist": sorted(config.federation.federation_domain_whitelist or {}),
        "enable_registration": config.registration.enable_registration,
        "redaction_retention_period": config.server.redaction_retention_period,
        "msc2815_enabled": config.experimental.msc2815_enabled,
        "app_service_config_files": list(config.appservice.app_service_config_files),
        "trusted_key_servers": list(config.key.key_servers),
        "custom_ca_count": len(
            config.tls.federation_ca_trust_root.getIssuers()
            if hasattr(config.tls.federation_ca_trust_root, "getIssuers")
            else []
        ),
        "worker_app": config.worker.worker_app,
        "worker_name": config.worker.worker_name,
        "redis_enabled": config.redis.redis_enabled,
        "database_engine": config.database.databases[0].config["name"],
        "passfile": config.database.databases[0].config["args"].get("passfile"),
    }


def main() -> None:
    with open(sys.argv[1]) as handle:
        jobs = json.load(handle)
    results = []
    for job in jobs:
        argv = []
        for path in job["configs"]:
            argv += ["-c", path]
        argv.append("--no-secrets-in-config")
        try:
            config = HomeServerConfig.load_config("govmatrix config probe", argv)
            results.append({"name": job["name"], "ok": True, "error": None, "facts": facts(config)})
        except BaseException as exc:  # ConfigError, SystemExit from argparse, ...
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            results.append({"name": job["name"], "ok": False, "error": detail, "facts": None})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
