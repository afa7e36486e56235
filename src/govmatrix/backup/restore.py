"""`govmatrix backup restore`: a department's whole cluster (pgBackRest physical restore) and
its files (restic), to a point in time, into a fresh directory. The live department is not
touched; switching to the restore is the operator's decision (docs/backups.md).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from govmatrix.backup import scratch
from govmatrix.backup.department import DepartmentBackup


@dataclass
class RestoreReport:
    department: str
    into: str
    target: str
    events: int = 0
    latest_event_at: str | None = None
    one_time_keys_dropped: int = 0
    files_snapshot: dict[str, Any] = field(default_factory=dict)

    def write(self) -> Path:
        path = Path(self.into) / "restore.json"
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path


def restore(backup: DepartmentBackup, into: Path, to: dt.datetime | None) -> RestoreReport:
    report = RestoreReport(backup.layout.stanza, str(into), to.isoformat() if to else "latest")
    backup.restore_database(into / "postgres", to)
    with scratch.started(into / "postgres", into / "socket", into / "postgres.log") as cluster:
        # Recovery ends at the target and the cluster is promoted; fix it up before any
        # Synapse ever starts on it.
        report.one_time_keys_dropped = scratch.forget_one_time_keys(cluster)
        with cluster.connect("synapse") as conn:
            row = conn.execute("SELECT count(*), max(origin_server_ts) FROM events").fetchone()
        if row is not None:
            report.events = int(str(row[0]))
            if row[1] is not None:
                stamp = dt.datetime.fromtimestamp(int(str(row[1])) / 1000, dt.UTC)
                report.latest_event_at = stamp.isoformat()
    report.files_snapshot = backup.restore_files(into / "files", to)
    report.write()
    return report
