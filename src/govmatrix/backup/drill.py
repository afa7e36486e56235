"""`govmatrix backup drill`: restore the latest backup into a scratch instance, start an
isolated Synapse on it, and compare what came back with the live department.

Compared: event counts and the latest event of every room, the archive's chain head, media
rows, and the SHA-256 of every media file in the file backup against the live file. Any
difference fails the drill; the report (JSON and text) says which.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml

from govmatrix.backup import facts, pgbackrest, scratch
from govmatrix.backup.department import DepartmentBackup
from govmatrix.backup.isolated_synapse import isolated, log_config
from govmatrix.backup.pgbackrest import BackupError
from govmatrix.hashing import sha256_file
from govmatrix.hsm import signing
from govmatrix.hsm.device import HsmError


@dataclass(frozen=True)
class LiveDepartment:
    """How the drill reaches the live department (read only)."""

    connect: Callable[[str], psycopg.Connection[Any]]  # superuser connection to a database
    homeserver_yaml: Path
    media_store: Path
    secrets_dir: Path
    key_url: str  # the live Synapse's /_matrix/key/v2/server on its internal listener
    has_archive: bool
    # Starts Synapse (as its service user) with a config file; returns the process.
    start_synapse: Callable[[Path], subprocess.Popen[bytes]]
    synapse_owner: tuple[int, int]
    memory_dir: Path  # tmpfs for the unsealed signing key of the scratch Synapse


@dataclass
class DrillReport:
    department: str
    started_at: str
    finished_at: str = ""
    passed: bool = False
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    backup: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    restored: dict[str, Any] = field(default_factory=dict)
    media: dict[str, int] = field(default_factory=dict)
    synapse: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def text(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [
            f"Restore drill of {self.department}: {verdict}",
            f"  started {self.started_at}, finished {self.finished_at}",
            f"  database backup {self.backup.get('label', '?')}, files snapshot "
            f"{self.backup.get('files_snapshot', '?')}",
            f"  events compared: {self.source.get('events', 0)} in "
            f"{len(self.source.get('rooms', {}))} rooms (up to stream position "
            f"{self.source.get('upto', 0)})",
            f"  archive chain head: {self.source.get('archive_head')}",
            f"  media files checked: {self.media.get('checked', 0)}, mismatched: "
            f"{self.media.get('mismatched', 0)}, not yet in the file backup: "
            f"{self.media.get('not_in_backup', 0)}",
            f"  isolated Synapse: {self.synapse.get('result', 'not started')}",
            "  timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items()),
        ]
        if self.problems:
            lines.append("Problems:")
            lines += [f"  - {p}" for p in self.problems]
        if self.notes:
            lines.append("Notes:")
            lines += [f"  - {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        as_json, as_text = directory / "report.json", directory / "report.txt"
        as_json.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        as_text.write_text(self.text())
        return as_json, as_text


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Drill:
    def __init__(self, backup: DepartmentBackup, live: LiveDepartment, workdir: Path):
        self.backup = backup
        self.live = live
        self.workdir = workdir
        self.report = DrillReport(backup.layout.stanza, _now())
        self._clock = time.monotonic()

    def _lap(self, name: str) -> None:
        now = time.monotonic()
        self.report.seconds[name] = now - self._clock
        self._clock = now

    def run(self, progress: Callable[[str], None] = lambda _: None) -> DrillReport:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            progress("reading the live department")
            source = self._source_facts()
            progress("archiving the current WAL segment")
            pgbackrest.check(self.backup.layout)
            self._lap("source")
            progress("restoring the database (pgBackRest)")
            self.backup.restore_database(self.workdir / "postgres", None)
            self.report.backup["label"] = pgbackrest.backups(self.backup.layout)[-1]["label"]
            self._lap("restore_database")
            progress("restoring files (restic)")
            files_ok = self._restore_files()
            self._lap("restore_files")
            with scratch.started(
                self.workdir / "postgres", self.workdir / "socket", self.workdir / "postgres.log"
            ) as cluster:
                self._lap("recovery")
                dropped = scratch.forget_one_time_keys(cluster)
                self.report.notes.append(f"{dropped} one-time keys dropped before Synapse starts")
                progress("comparing with the live department")
                restored = self._restored_facts(cluster, source)
                self.report.problems += facts.compare(source, restored)
                if files_ok:
                    self._compare_media(restored)
                self._lap("compare")
                progress("starting an isolated Synapse on the restore")
                self._isolated_synapse(cluster, files_ok)
                self._lap("synapse")
        except (BackupError, HsmError) as exc:
            self.report.problems.append(str(exc))
        self.report.passed = not self.report.problems
        self.report.finished_at = _now()
        return self.report

    # --- facts --------------------------------------------------------------------------

    def _source_facts(self) -> facts.Facts:
        with self.live.connect("synapse") as conn:
            upto = facts.stream_position(conn)
            source = facts.synapse_facts(conn, upto)
        if self.live.has_archive:
            with self.live.connect("archive") as conn:
                facts.add_archive(source, conn, facts.archive_position(conn))
        self.report.source = source.as_dict()
        return source

    def _restored_facts(self, cluster: scratch.ScratchCluster, source: facts.Facts) -> facts.Facts:
        with cluster.connect("synapse") as conn:
            restored = facts.synapse_facts(conn, source.upto)
        if self.live.has_archive:
            with cluster.connect("archive") as conn:
                facts.add_archive(restored, conn, source.archive_seq_upto)
        self.report.restored = restored.as_dict()
        return restored

    # --- files --------------------------------------------------------------------------

    @property
    def files_root(self) -> Path:
        return self.workdir / "files"

    def restored_path(self, live_path: Path) -> Path:
        """restic restores absolute paths under the target directory."""
        return self.files_root / live_path.relative_to("/")

    def _restore_files(self) -> bool:
        try:
            snap = self.backup.restore_files(self.files_root, None)
        except BackupError as exc:
            self.report.problems.append(f"file backup does not restore: {exc}")
            return False
        self.report.backup["files_snapshot"] = snap["short_id"]
        self.report.backup["files_snapshot_time"] = snap["time"]
        return True

    def _compare_media(self, restored: facts.Facts) -> None:
        checked = mismatched = not_in_backup = 0
        restored_store = self.restored_path(self.live.media_store)
        for media_id in restored.media_ids:
            backed_up = facts.media_path(restored_store, media_id)
            if not backed_up.exists():
                not_in_backup += 1  # uploaded after the last file snapshot
                continue
            checked += 1
            live = facts.media_path(self.live.media_store, media_id)
            if not live.exists():
                mismatched += 1
                self.report.problems.append(f"media {media_id}: in the backup, gone from live")
            elif sha256_file(live) != sha256_file(backed_up):
                mismatched += 1
                self.report.problems.append(f"media {media_id}: SHA-256 differs from live")
        self.report.media = {
            "checked": checked,
            "mismatched": mismatched,
            "not_in_backup": not_in_backup,
        }
        if not_in_backup:
            self.report.notes.append(
                f"{not_in_backup} media files are newer than the last file snapshot"
            )

    # --- isolated Synapse ---------------------------------------------------------------

    def _isolated_synapse(self, cluster: scratch.ScratchCluster, files_ok: bool) -> None:
        if not files_ok:
            self.report.synapse["result"] = "not started: the file backup did not restore"
            return
        hsm = self.backup.hsm
        sealed = self.restored_path(signing.sealed_path(str(self.live.secrets_dir)))
        key_file = self.live.memory_dir / "signing.key"
        if hsm is None:
            shutil.copyfile(self.restored_path(self.live.secrets_dir / "signing.key"), key_file)
        else:
            # The sealed key from the backup, opened by the HSM: proves both survive.
            signing.unseal_to_memory(hsm, sealed, key_file, self.live.synapse_owner)
        live_config = yaml.safe_load(self.live.homeserver_yaml.read_text())
        password = _pgpass_password(Path(live_config["database"]["args"]["passfile"]))
        passfile = self.workdir / "pgpass"
        passfile.write_text(f"127.0.0.1:{cluster.port}:synapse:synapse:{password}\n")
        port = scratch.free_port()
        config = isolated(
            live_config,
            workdir=self.workdir,
            port=port,
            database={"host": "127.0.0.1", "port": cluster.port, "passfile": str(passfile)},
            media_store=self.restored_path(self.live.media_store),
            signing_key=key_file,
        )
        config_file = self.workdir / "homeserver.yaml"
        config_file.write_text(yaml.safe_dump(config))
        (self.workdir / "synapse.log.yaml").write_text(log_config(self.workdir))
        for path in (self.workdir, passfile, config_file, self.workdir / "synapse.log.yaml"):
            os.chown(path, *self.live.synapse_owner)
        passfile.chmod(0o600)
        shutil.chown(self.restored_path(self.live.media_store), *self.live.synapse_owner)
        proc = self.live.start_synapse(config_file)
        try:
            self._probe_synapse(port, proc)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            key_file.unlink(missing_ok=True)

    def _probe_synapse(self, port: int, proc: subprocess.Popen[bytes]) -> None:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log = (self.workdir / "synapse.log").read_text()[-2000:]
                self.report.problems.append(f"isolated Synapse exited: {log}")
                self.report.synapse["result"] = "exited"
                return
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            self.report.problems.append("isolated Synapse did not become healthy in 180 s")
            self.report.synapse["result"] = "unhealthy"
            return
        restored_keys = httpx.get(f"{base}/_matrix/key/v2/server", timeout=10).json()
        live_keys = httpx.get(self.live.key_url, timeout=10).json()
        same = set(restored_keys["verify_keys"]) == set(live_keys["verify_keys"]) and all(
            restored_keys["verify_keys"][k]["key"] == live_keys["verify_keys"][k]["key"]
            for k in live_keys["verify_keys"]
        )
        self.report.synapse = {
            "result": "healthy, serving the live server's signing key"
            if same
            else "healthy, but with another signing key",
            "verify_keys": sorted(restored_keys["verify_keys"]),
        }
        if not same:
            self.report.problems.append("restored signing key differs from the live server's")


def _pgpass_password(passfile: Path) -> str:
    line = passfile.read_text().strip().splitlines()[-1]
    return line.rsplit(":", 1)[1]
