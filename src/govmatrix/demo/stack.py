"""`govmatrix demo up|down|reset|status`: the demo estate as real processes on loopback.

Per department: its own PostgreSQL cluster, Synapse (plus workers and Redis when the sizing
profile asks for them), all behind one nginx that terminates TLS with certificates from the
estate CA. supervisord runs every process and restarts crashed ones; `up` starts them in
dependency order and waits for each to be healthy. Every config file comes from
`govmatrix.render` with target `demo`: the demo has no templates of its own for them.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from govmatrix import pki, secretref
from govmatrix.backup.pgbackrest import BackupError
from govmatrix.demo import directories, element, hosts, identity_providers, ports, postgres
from govmatrix.demo.backups import backup_layout, department_backup
from govmatrix.demo.layout import DEMO_USER, Layout
from govmatrix.demo.supervisor import Program, Supervisor, write_config
from govmatrix.demo.synapse_venv import synapse_python
from govmatrix.demo.system import (
    DemoError,
    chown_tree,
    ensure_system_user,
    require_root,
    system_user_ids,
    wait_for,
)
from govmatrix.estate import Department, Estate, load_estate
from govmatrix.estate.federation import FederationGraph, build
from govmatrix.estate.pki_plan import plan, portal_host
from govmatrix.estate.types import duration_seconds
from govmatrix.hsm import provision, signing
from govmatrix.hsm.device import HsmError
from govmatrix.hsm.plan import HsmPlan
from govmatrix.hsm.plan import plan as hsm_plan
from govmatrix.materialise import materialise, write_file
from govmatrix.render import Target, render, required_secrets
from govmatrix.render.context import runs_identity_provider
from govmatrix.render.environment import render_template
from govmatrix.render.paths import nginx_site
from govmatrix.render.sizing import PROFILES
from govmatrix.secretgen import generate_all

HOSTS_TAG_PREFIX = "root="


@dataclass
class UpReport:
    started: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    element: element.ElementInstall | None = None
    seconds: float = 0.0


class DemoStack:
    def __init__(
        self,
        estate_file: Path,
        root: Path,
        *,
        artifacts: str | None = None,
        console: Console | None = None,
    ):
        self.estate_file = estate_file.resolve()
        self.estate: Estate = load_estate(self.estate_file)
        self.layout = Layout(root.resolve())
        self.graph: FederationGraph = build(self.estate)
        self.artifacts = artifacts or self.estate.estate.artifacts.mirror
        self.console = console or Console(stderr=True)
        self.supervisor = Supervisor(self.layout)
        self._synapse_python: Path | None = None
        bad = [d.id for d in self.estate.departments if d.target != "demo"]
        if bad:
            raise DemoError(
                f"the demo runs departments whose target is 'demo'; these are not: {', '.join(bad)}"
            )

    # --- helpers --------------------------------------------------------------------------

    @property
    def hosts_tag(self) -> str:
        return HOSTS_TAG_PREFIX + str(self.layout.root)

    @property
    def trust_bundle(self) -> Path:
        return self.layout.pki / "trust-bundle.pem"

    def target(self, dept: Department) -> Target:
        return self.layout.target(self.estate, dept)

    def programs(self) -> list[Program]:
        python = self._synapse_python
        if python is None:
            raise DemoError("internal: Synapse's interpreter is not resolved yet")
        logs = self.layout.logs
        nginx_env: dict[str, str] = {}
        hsm_tls = [p for p in self._hsm_plans() if "tls" in p.keys]
        if hsm_tls:
            # pkcs11-provider and SoftHSM2 for nginx's HSM-held TLS keys (see _hsm_tls).
            from govmatrix.hsm.tls import nginx_environment
            from govmatrix.render.context import make_context

            tls_files = []
            for hsm in hsm_tls:
                dept = self.estate.department(hsm.department_id)
                ctx = make_context(self.estate, dept, self.target(dept), self.graph)
                tls_files += [Path(ctx.paths.server_cert), Path(ctx.tls_key_path)]
            nginx_env = nginx_environment(self.layout.root / "nginx", hsm_tls[0], tls_files)
        out = [
            Program(
                "nginx",
                (
                    "/usr/sbin/nginx",
                    "-c",
                    str(self.layout.nginx_conf),
                    "-p",
                    str(self.layout.root / "nginx"),
                ),
                logs / "nginx.log",
                env=nginx_env,
                stopsignal="QUIT",
            ),
            *directories.programs(self),
            *identity_providers.programs(self),
            Program(
                "scheduler",
                (sys.executable, "-m", "govmatrix.demo.scheduler", "--root", str(self.layout.root)),
                logs / "scheduler.log",
            ),
        ]
        for dept in self.estate.departments:
            t = self.target(dept)
            cfg = Path(t.config_dir) / "synapse"
            out.append(
                Program(
                    f"postgres-{dept.id}",
                    (str(postgres.postgres_binary()), "-D", str(self.layout.pgdata(dept.id))),
                    logs / f"postgres-{dept.id}.log",
                    user=postgres.PG_USER,
                    stopsignal="INT",  # fast shutdown: roll back open transactions, no wait
                )
            )
            if dept.archive.enabled:
                out.append(
                    Program(
                        f"archive-{dept.id}",
                        (
                            sys.executable,
                            "-m",
                            "govmatrix.archive",
                            "serve",
                            "--config",
                            str(Path(t.config_dir) / "archive" / "archive.yaml"),
                        ),
                        logs / f"archive-{dept.id}.log",
                    )
                )
            sizing = PROFILES[dept.synapse.profile]
            if sizing.uses_workers:
                out.append(
                    Program(
                        f"redis-{dept.id}",
                        (
                            "/usr/bin/redis-server",
                            "--bind",
                            t.redis_host,
                            "--port",
                            str(t.redis_port),
                            "--save",
                            "",
                            "--appendonly",
                            "no",
                            "--protected-mode",
                            "yes",
                        ),
                        logs / f"redis-{dept.id}.log",
                        user=DEMO_USER,
                    )
                )
            out.append(
                Program(
                    f"synapse-{dept.id}",
                    (
                        str(python),
                        "-m",
                        "synapse.app.homeserver",
                        "-c",
                        str(cfg / "homeserver.yaml"),
                        "--no-secrets-in-config",
                    ),
                    logs / f"synapse-{dept.id}.stdout.log",
                    user=DEMO_USER,
                    directory=Path(t.data_dir),
                    env={"SSL_CERT_FILE": str(self.trust_bundle)},
                    startsecs=5,
                )
            )
            for worker in sizing.workers:
                out.append(
                    Program(
                        f"synapse-{dept.id}-{worker.name}",
                        (
                            str(python),
                            "-m",
                            "synapse.app.generic_worker",
                            "-c",
                            str(cfg / "homeserver.yaml"),
                            "-c",
                            str(cfg / "workers" / f"{worker.name}.yaml"),
                            "--no-secrets-in-config",
                        ),
                        logs / f"synapse-{dept.id}-{worker.name}.stdout.log",
                        user=DEMO_USER,
                        directory=Path(t.data_dir),
                        startsecs=5,
                    )
                )
        return out

    def wanted_ports(self) -> list[tuple[str, int, str]]:
        wanted = []
        for dept in self.estate.departments:
            t = self.target(dept)
            wanted += [
                (t.public_address, t.client_port, f"{dept.id} HTTPS"),
                (t.public_address, t.federation_port, f"{dept.id} federation"),
                (t.synapse_address, t.synapse_port, f"{dept.id} Synapse"),
                (t.database_host, t.database_port, f"{dept.id} PostgreSQL"),
            ]
            if dept in directories.departments(self):
                wanted.append((t.public_address, t.directory_port, f"{dept.id} directory"))
            if dept in identity_providers.departments(self):
                wanted.append((t.synapse_address, t.identity_port, f"{dept.id} sign-in portal"))
            sizing = PROFILES[dept.synapse.profile]
            if sizing.uses_workers:
                wanted.append((t.redis_host, t.redis_port, f"{dept.id} Redis"))
                wanted.append((t.synapse_address, t.replication_port, f"{dept.id} replication"))
                for i, _ in enumerate(sizing.of_role("generic")):
                    wanted.append((t.synapse_address, t.worker_base_port + i, f"{dept.id} worker"))
        return wanted

    @contextmanager
    def _steps(self) -> Iterator[Callable[[str], Callable[[], None]]]:
        progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )

        def step(description: str) -> Callable[[], None]:
            task = progress.add_task(description, total=1)

            def done() -> None:
                progress.update(task, completed=1, description=f"[green]✓[/] {description}")

            return done

        with progress:
            yield step

    # --- up -------------------------------------------------------------------------------

    def up(self, *, seed: bool = True) -> UpReport:
        require_root()
        started_at = time.monotonic()
        report = UpReport()
        already = self.supervisor.running()
        if not already:
            ports.check_free(self.wanted_ports())
        with self._steps() as step:
            done = step("preparing state directory, users and name resolution")
            self._prepare()
            done()
            done = step("estate CA and department certificates")
            self._pki()
            done()
            done = step(f"Synapse {self._versions()} virtualenv")
            self._synapse_python = synapse_python(self._version(), self.layout)
            done()
            done = step("Element Web")
            report.element = element.install(
                self.estate.estate.artifacts.element_version, self.layout.element, self.artifacts
            )
            done()
            if self._hsm_plans():
                done = step("HSM tokens and keys (SoftHSM2)")
                self._hsm()
                self._hsm_tls()
                done()
            done = step("rendering and installing configs")
            changed = self._configs()
            directories.prepare(self)
            identity_providers.prepare(self)
            done()
            done = step("PostgreSQL clusters")
            self._prepare_backups()
            settings_changed: dict[str, str] = {}
            for dept in self.estate.departments:
                t = self.target(dept)
                action = postgres.init_cluster(
                    self.layout.pgdata(dept.id),
                    self.layout.pgsocket(dept.id),
                    t.database_host,
                    t.database_port,
                    self._archiving(dept),
                )
                if action is not None:
                    settings_changed[dept.id] = action
            write_config(self.layout, self.programs())
            self.supervisor.start_daemon()
            for dept in self.estate.departments:
                name = f"postgres-{dept.id}"
                if self.supervisor.start(name):
                    report.started.append(name)
                elif settings_changed.get(dept.id) == "restart":
                    self.supervisor.restart(name)
                    report.restarted.append(name)
                elif dept.id in settings_changed:
                    self.supervisor.signal(name, "HUP")  # PostgreSQL re-reads its settings
                    report.restarted.append(name)
            for dept in self.estate.departments:
                t = self.target(dept)
                postgres.wait_ready(self.layout.pgsocket(dept.id), t.database_port)
                postgres.ensure_database(
                    self.layout.pgsocket(dept.id),
                    t.database_port,
                    "synapse",
                    "synapse",
                    self._secrets(dept)["database_password"],
                )
                if dept.archive.enabled:
                    postgres.ensure_archive_database(
                        self.layout.pgsocket(dept.id),
                        t.database_port,
                        self._secrets(dept)["archive_database_password"],
                    )
            done()
            if directories.departments(self):
                done = step("department directories (OpenLDAP)")
                self._start_directories(report)
                done()
            if identity_providers.departments(self):
                done = step("sign-in portals (LemonLDAP::NG, OpenID Connect)")
                for dept in identity_providers.departments(self):
                    self._ensure_running(
                        f"identity-{dept.id}", "identity" in changed[dept.id], report
                    )
                identity_providers.wait_listening(self)
                done()
            if self._backed_up():
                done = step("backups: pgBackRest stanzas, restic repositories, first full backup")
                self._initialise_backups()
                done()
            done = step("compliance archives")
            self._start_archives(report, changed)
            done()
            done = step("Synapse homeservers")
            self._start_synapses(report, changed)
            done()
            done = step("nginx (TLS, federation, Element)")
            if self.supervisor.start("nginx"):
                report.started.append("nginx")
            elif "nginx" in changed.get("*", set()):
                self.supervisor.signal("nginx", "HUP")  # graceful reload, connections kept
                report.restarted.append("nginx")
            for dept in self.estate.departments:
                self._wait_client(dept)
            done()
            self._ensure_running("scheduler", False, report)
            from govmatrix.demo.seed import ensure_admins

            self._retry_federation(ensure_admins(self))
            if seed:
                done = step("seeding users, rooms and messages")
                from govmatrix.demo.seed import seed as seed_estate

                seed_estate(self)
                done()
        report.seconds = time.monotonic() - started_at
        return report

    def _versions(self) -> str:
        return ", ".join(sorted({d.synapse.version for d in self.estate.departments}))

    def _version(self) -> str:
        versions = {d.synapse.version for d in self.estate.departments}
        if len(versions) != 1:
            raise DemoError(
                "the demo runs one Synapse version for all departments; the estate pins "
                + ", ".join(sorted(versions))
            )
        return versions.pop()

    def _prepare(self) -> None:
        root = self.layout.root
        root.mkdir(parents=True, exist_ok=True)
        for path in (root, *root.parents):
            if path == Path("/"):
                break
            if not path.stat().st_mode & 0o001:
                raise DemoError(
                    f"{path} is not traversable by other users; PostgreSQL, Synapse and nginx "
                    "run as their own users and must reach the state directory. Choose another "
                    "--root, or chmod o+x it."
                )
        root.chmod(0o755)
        for sub in (self.layout.logs, self.layout.run, root / "nginx"):
            sub.mkdir(exist_ok=True)
        ensure_system_user(DEMO_USER, root)
        chown_tree(self.layout.logs, DEMO_USER)
        self.layout.logs.chmod(0o755)
        if Path(self.estate_file).resolve().is_relative_to(root.resolve()):
            # `reset` wipes the state directory, and the operator's file with it.
            raise DemoError(
                f"the estate file {self.estate_file} lies inside the demo's state directory "
                f"{root}, which 'demo reset' wipes; keep it elsewhere"
            )
        shutil.copyfile(self.estate_file, self.layout.estate_copy)
        entries = {}
        for d in self.estate.departments:
            address = self.target(d).public_address
            entries[d.server_name.split(":")[0]] = address
            if runs_identity_provider(d, self.target(d)) and (portal := portal_host(d)):
                entries[portal] = address
        hosts.install(entries, self.hosts_tag)

    def _pki(self) -> None:
        pki.init(plan(self.estate), self.layout.pki)
        self.layout.pki.chmod(0o755)
        # Synapse fetches the sign-in portal's discovery document and keys over HTTPS with
        # the platform's trust store (not federation_custom_ca_list): give it the system's
        # CAs plus the estate CA, as a host would after installing the CA.
        system = Path("/etc/ssl/certs/ca-certificates.crt")
        bundle = (system.read_text() if system.exists() else "") + (
            self.layout.pki / "ca.crt"
        ).read_text()
        write_file(self.trust_bundle, bundle, 0o644)
        partners_dir = self.layout.pki / "partners"
        partners_dir.mkdir(exist_ok=True)
        for partner in self.estate.partners:
            try:
                source = pki.partner_ca_source(self.estate_file, partner)
            except pki.PkiError as exc:
                raise DemoError(str(exc)) from None
            if source is not None:
                write_file(partners_dir / f"{partner.id}.pem", source.read_text(), 0o644)
        from govmatrix.render.context import make_context

        for dept in self.estate.departments:
            t = self.target(dept)
            tls = Path(t.tls_dir)
            tls.mkdir(parents=True, exist_ok=True)
            tls.chmod(0o700)
            ctx = make_context(self.estate, dept, t, self.graph)
            if ctx.tls_key_path != ctx.paths.server_key:
                # The key stays in the HSM: _hsm_tls writes the certificate for it and the
                # file naming it, and removes a software key left from before.
                continue
            write_file(
                tls / "server.crt", (self.layout.pki / dept.id / "server.crt").read_text(), 0o644
            )
            write_file(
                tls / "server.key", (self.layout.pki / dept.id / "server.key").read_text(), 0o600
            )

    def _backed_up(self) -> list[Department]:
        return [d for d in self.estate.departments if d.backup.enabled]

    def _archiving(self, dept: Department) -> str:
        if not dept.backup.enabled or not dept.backup.pitr:
            return ""
        layout = backup_layout(self.layout, self.estate, dept)
        return postgres.archiving_settings(
            layout.archive_command(), duration_seconds(dept.backup.archive_timeout)
        )

    def _prepare_backups(self) -> None:
        """Sealed passphrases and pgBackRest's config before PostgreSQL starts archiving."""
        for dept in self._backed_up():
            try:
                department_backup(self.layout, self.estate, dept).prepare()
            except (HsmError, BackupError) as exc:
                raise DemoError(f"backups of {dept.id}: {exc}") from None

    def _initialise_backups(self) -> None:
        for dept in self._backed_up():
            try:
                department_backup(self.layout, self.estate, dept).initialise()
            except (HsmError, BackupError) as exc:
                raise DemoError(f"backups of {dept.id}: {exc}") from None

    def _hsm_plans(self) -> list[HsmPlan]:
        plans = (hsm_plan(d, self.target(d)) for d in self.estate.departments)
        return [p for p in plans if p is not None]

    def _hsm(self) -> None:
        """Tokens and keys, then each Synapse signing key sealed by its HSM."""
        try:
            provision.init_all(self._hsm_plans())
            for hsm in self._hsm_plans():
                dept = self.estate.department(hsm.department_id)
                t = self.target(dept)
                plain = self._take_plain_signing_key(dept)
                signing.ensure_sealed(hsm, signing.sealed_path(t.secrets_dir), plain)
        except HsmError as exc:
            raise DemoError(f"HSM: {exc}") from None

    def _hsm_tls(self) -> None:
        """nginx's TLS keys stay in the HSM, used through OpenSSL's pkcs11-provider.

        Per department: the key file that only names the key (PKCS#11 URI), a certificate
        from the estate CA for the token's public key, and no software key in tls_dir. The
        provider's configuration and the workers' read access to the TLS tokens are written,
        and the key is loaded the way an nginx worker will load it. Every check passes before
        anything nginx uses now is replaced, so a failure leaves a running nginx as it was."""
        from govmatrix.hsm import tls
        from govmatrix.render.context import make_context

        plans = [p for p in self._hsm_plans() if "tls" in p.keys]
        if not plans:
            return
        modules = sorted({p.module_path for p in plans})
        if len(modules) > 1:
            raise DemoError(
                "HSM-backed TLS: the demo's one nginx loads one PKCS#11 module; departments "
                f"name {', '.join(modules)}"
            )
        env = tls.nginx_environment(self.layout.root / "nginx", plans[0])
        openssl_conf = Path(env["OPENSSL_CONF"])
        softhsm_conf = Path(env["SOFTHSM2_CONF"]) if "SOFTHSM2_CONF" in env else None
        certificates = {c.department: c for c in plan(self.estate).certificates}
        estate_pki = pki.EstatePki(self.layout.pki)
        try:
            tls.write_provider_config(openssl_conf, plans[0])
            if softhsm_conf is not None:
                tls.write_softhsm_config(softhsm_conf, plans[0])
            checked = []
            for hsm in plans:
                dept = self.estate.department(hsm.department_id)
                ctx = make_context(self.estate, dept, self.target(dept), self.graph)
                token = hsm.key("tls").token
                if ctx.tls_pin_path is None:
                    raise HsmError(
                        f"the PIN of TLS token '{token}' is {hsm.pin_ref(token)}, but nginx "
                        "reads it from a file: give hsm.keys.tls.pin as file:PATH or generate"
                    )
                public = tls.public_key(hsm)  # one login: token, key and PIN are there
                if hsm.is_softhsm:
                    tls.grant_worker_access(hsm)
                key_file = Path(ctx.tls_key_path)
                tls.write_key_file(hsm, key_file)
                pin = tls.read_pin_file(Path(ctx.tls_pin_path))
                tls.check_as_worker(
                    key_file, pin, public, openssl_conf=openssl_conf, softhsm_conf=softhsm_conf
                )
                checked.append((ctx, public))
            for ctx, public in checked:
                estate_pki.ensure_for_public_key(
                    certificates[ctx.department.id], public, Path(ctx.paths.server_cert)
                )
                Path(ctx.paths.server_key).unlink(missing_ok=True)
        except (HsmError, pki.PkiError, OSError) as exc:
            raise DemoError(f"HSM-backed TLS: {exc}") from None

    def _take_plain_signing_key(self, dept: Department) -> str | None:
        """A demo started before the HSM was enabled kept its signing key in plain files;
        adopt that key (the server keeps its identity) and remove the plain copies."""
        path = self.layout.secret_values(dept.id)
        values: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        plain = values.pop("signing_key", None)
        if plain is not None:
            write_file(path, json.dumps(values, indent=2, sort_keys=True) + "\n", 0o600)
        (Path(self.target(dept).secrets_dir) / "signing.key").unlink(missing_ok=True)
        return plain

    def _unseal_signing_keys(self) -> None:
        """Into memory-backed storage, readable by Synapse's user only, before it starts."""
        owner = system_user_ids(DEMO_USER)
        for hsm in self._hsm_plans():
            t = self.target(self.estate.department(hsm.department_id))
            assert t.memory_dir is not None
            try:
                signing.unseal_to_memory(
                    hsm,
                    signing.sealed_path(t.secrets_dir),
                    Path(t.memory_dir) / "signing.key",
                    owner,
                )
            except HsmError as exc:
                raise DemoError(f"HSM: {exc}") from None

    def _secrets(self, dept: Department) -> dict[str, str]:
        """Generated once per department, then kept (root-only, 0600). Keys the HSM holds or
        seals are not among them."""
        path = self.layout.secret_values(dept.id)
        specs = required_secrets(dept, self.target(dept))
        values: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        missing = [s for s in specs if s.name not in values and s.ref is None]
        if missing:
            values.update(generate_all(tuple(missing)))
            path.parent.mkdir(parents=True, exist_ok=True)
            write_file(path, json.dumps(values, indent=2, sort_keys=True) + "\n", 0o600)
        # Issued elsewhere (an external issuer's client secret): read at every deploy, never
        # kept here, so a rotated secret takes effect at the next `up`.
        for spec in specs:
            if spec.ref is not None:
                try:
                    values[spec.name] = secretref.read(spec.ref, f"{dept.id}: {spec.name}")
                except secretref.SecretRefError as exc:
                    raise DemoError(str(exc)) from None
        return values

    def _configs(self) -> dict[str, set[str]]:
        """Render and install every department's files.

        Returns, per department id (and "*" for the shared nginx), the components whose
        files changed: "synapse" (its configs or secrets), "nginx", "element"."""
        changed: dict[str, set[str]] = {"*": set()}
        sites = []
        for dept in self.estate.departments:
            t = self.target(dept)
            files = render(self.estate, dept, t, graph=self.graph)
            written = materialise(files, t, required_secrets(dept, t), self._secrets(dept))
            components = {_component(path, t) for path in written}
            changed[dept.id] = components
            if "nginx" in components:
                changed["*"].add("nginx")
            for directory in (t.data_dir, t.log_dir or "", t.secrets_dir):
                Path(directory).mkdir(parents=True, exist_ok=True)
                chown_tree(Path(directory), DEMO_USER)
            chown_tree(Path(t.config_dir) / "synapse", DEMO_USER)
            for path in (self.layout.department(dept.id), Path(t.config_dir)):
                path.chmod(0o755)
            sites.append(f"{t.config_dir}/{nginx_site(dept.id)}")
        nginx_conf = render_template("demo/nginx.conf.j2", root=self.layout.root, sites=sites)
        if write_file(self.layout.nginx_conf, nginx_conf, 0o644):
            changed["*"].add("nginx")
        return changed

    def _start_directories(self, report: UpReport) -> None:
        from govmatrix.demo.seed import read_json, write_private_json

        for dept in directories.departments(self):
            name = f"directory-{dept.id}"
            if self.supervisor.start(name):
                report.started.append(name)
        creds = read_json(self.layout.credentials)
        if directories.seed(self, creds):
            write_private_json(self.layout.credentials, creds)

    def _start_archives(self, report: UpReport, changed: dict[str, set[str]]) -> None:
        """Archives start before Synapse, so its first transactions find them listening."""
        for dept in self.estate.departments:
            if not dept.archive.enabled:
                continue
            t = self.target(dept)
            log_dir = Path(t.checkpoint_log_dir)
            log_dir.mkdir(parents=True, exist_ok=True)
            log_dir.chmod(0o700)
            name = f"archive-{dept.id}"
            self._ensure_running(name, "archive" in changed[dept.id], report)
            self._wait_http(name, f"http://{t.archive_address}:{t.archive_port}/healthz", 60)

    def _start_synapses(self, report: UpReport, changed: dict[str, set[str]]) -> None:
        self._unseal_signing_keys()
        for dept in self.estate.departments:
            sizing = PROFILES[dept.synapse.profile]
            if sizing.uses_workers:
                self._ensure_running(f"redis-{dept.id}", False, report)
            self._ensure_running(f"synapse-{dept.id}", "synapse" in changed[dept.id], report)
        for dept in self.estate.departments:
            self._wait_synapse(dept)
            for worker in PROFILES[dept.synapse.profile].workers:
                # Workers read homeserver.yaml too: they restart with their main process.
                self._ensure_running(
                    f"synapse-{dept.id}-{worker.name}", "synapse" in changed[dept.id], report
                )

    def _wait_synapse(self, dept: Department, timeout: float = 180) -> None:
        t = self.target(dept)
        url = f"http://{t.synapse_address}:{t.synapse_port}/health"
        self._wait_http(f"synapse-{dept.id}", url, timeout)

    def _wait_http(self, name: str, url: str, timeout: float) -> None:
        """Wait until program `name` answers 200 on `url`; on failure show its log tail."""

        def healthy() -> bool:
            if self.supervisor.state(name) == "FATAL":  # BACKOFF: supervisord is retrying
                raise DemoError(
                    f"{name} is not running; last log lines:\n{self.supervisor.tail(name)}"
                )
            return httpx.get(url, timeout=2).status_code == 200

        try:
            wait_for(healthy, f"{name} health", timeout)
        except DemoError as exc:
            if "last log lines" in str(exc):
                raise
            raise DemoError(f"{exc}\n{name} log tail:\n{self.supervisor.tail(name)}") from None

    def _ensure_running(self, name: str, restart: bool, report: UpReport) -> None:
        """Start `name` if it is not running; restart it if its configuration changed."""
        if self.supervisor.start(name):
            report.started.append(name)
        elif restart:
            self.supervisor.restart(name)
            report.restarted.append(name)

    def _retry_federation(self, creds: dict[str, Any]) -> None:
        """Every peer is up now. A send that failed while the demo went down (a peer stopped
        first) left Synapse backing off from that peer, and `status` would call it
        unreachable until the backoff ends: retry each peer at once instead. A peer that is
        really unreachable fails again, and `status` says so."""
        from govmatrix.demo.matrix import Homeserver

        for dept in self.estate.departments:
            token = creds.get(dept.id, {}).get("admin_token")
            if token is None:
                continue
            with Homeserver(dept.server_name, self.layout.pki / "ca.crt") as hs:
                for peer in self.graph.departments[dept.id].peers:
                    hs.retry_federation_now(token, self.estate.department(peer).server_name)

    def _wait_client(self, dept: Department, timeout: float = 30) -> None:
        from govmatrix.demo.matrix import Homeserver

        with Homeserver(dept.server_name, self.layout.pki / "ca.crt") as hs:
            wait_for(hs.versions_ok, f"https://{dept.server_name} through nginx", timeout)

    # --- down / reset ---------------------------------------------------------------------

    def down(self) -> None:
        """Stop everything and remove the hosts block; fail if anything still listens."""
        require_root()
        self.supervisor.shutdown()
        hosts.remove(self.hosts_tag)
        self._forget_unsealed_keys()
        addresses = {self.target(d).public_address for d in self.estate.departments}
        try:
            wait_for(lambda: not ports.listening_on(addresses), "listening sockets to close", 10)
        except DemoError:
            raise DemoError(
                "after down, still listening: " + ", ".join(ports.listening_on(addresses))
            ) from None

    def _forget_unsealed_keys(self) -> None:
        """Signing keys and backup passphrases leave memory with the services."""
        for dept in self.estate.departments:
            memory_dir = self.target(dept).memory_dir
            for path in (memory_dir, f"{memory_dir}.backup") if memory_dir else ():
                if Path(path).exists():
                    shutil.rmtree(path)

    def reset(self) -> None:
        self.down()
        if self.layout.root.exists():
            shutil.rmtree(self.layout.root)

    # --- status ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        from govmatrix.demo.status import collect

        return collect(self)


def _component(path: Path, target: Target) -> str:
    """Which component a deployed file belongs to: its first folder under the config dir."""
    if path.is_relative_to(target.secrets_dir):
        return "synapse"  # Synapse is the only reader of the secrets directory
    return path.relative_to(target.config_dir).parts[0]


def default_root() -> Path:
    from govmatrix.render.targets import DEFAULT_DEMO_ROOT

    return Path(DEFAULT_DEMO_ROOT)
