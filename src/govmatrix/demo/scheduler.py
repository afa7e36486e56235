"""The demo's scheduler: one supervised process running periodic jobs with APScheduler.

Jobs: certificate renewal, each department's full and differential backups on the
estate's schedule, and each department's leaver sync (identity.sync_interval). The
supervisor keeps
the process alive, and each job logs its start, end and failure to the scheduler log.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from govmatrix import pki
from govmatrix.demo.layout import Layout
from govmatrix.estate import load_estate
from govmatrix.estate.pki_plan import plan
from govmatrix.estate.types import duration_seconds
from govmatrix.render.context import runs_leaver_sync

log = logging.getLogger("govmatrix.scheduler")


@dataclass(frozen=True)
class Job:
    id: str
    trigger: CronTrigger | IntervalTrigger
    run: Callable[[Layout], None]


def renew_certificates(layout: Layout) -> None:
    """Re-issue department certificates that are near expiry; nginx picks them up on reload."""
    estate = load_estate(layout.estate_copy)
    report = pki.init(plan(estate), layout.pki)
    if report.issued:
        log.info("re-issued certificates: %s (run 'govmatrix demo up' to deploy)", report.issued)
    else:
        log.info("certificates valid: %s", ", ".join(report.kept))


def backup_job(dept_id: str, kind: str) -> Callable[[Layout], None]:
    """A pgBackRest backup of `kind` and a restic snapshot of the department's files."""

    def run(layout: Layout) -> None:
        from govmatrix.demo.backups import department_backup

        estate = load_estate(layout.estate_copy)
        report = department_backup(layout, estate, estate.department(dept_id)).backup(kind)
        log.info(
            "backup %s of %s: database %s, files snapshot %s, %.1f s",
            kind,
            dept_id,
            report.database.get("label"),
            report.files.get("snapshot_id", "")[:8],
            report.seconds,
        )

    return run


def sync_job(dept_id: str) -> Callable[[Layout], None]:
    """The department's leaver sync (govmatrix.identity.sync), with its guard; a refusal is
    logged as an error and deactivates nobody."""

    def run(layout: Layout) -> None:
        from govmatrix.identity import config, sync
        from govmatrix.render.paths import IDENTITY_SYNC

        estate = load_estate(layout.estate_copy)
        target = layout.target(estate, estate.department(dept_id))
        cfg = config.load(Path(target.config_dir) / IDENTITY_SYNC)
        report = sync.run(cfg, dry_run=False, force=False)
        path = report.write(Path(cfg.report_dir))
        if report.error:
            log.error("leaver sync of %s failed: %s (report %s)", dept_id, report.error, path)
        elif report.refused:
            log.error("leaver sync of %s refused: %s (report %s)", dept_id, report.refused, path)
        else:
            log.info("leaver sync of %s: %s (report %s)", dept_id, sync.summary(report), path)

    return run


def jobs(layout: Layout | None = None) -> list[Job]:
    out = [Job("renew-certificates", CronTrigger(hour=3, minute=17), renew_certificates)]
    if layout is not None and layout.estate_copy.exists():
        estate = load_estate(layout.estate_copy)
        for dept in estate.departments:
            if not dept.backup.enabled:
                continue
            for kind, cron in (("full", dept.backup.full), ("diff", dept.backup.diff)):
                trigger = CronTrigger.from_crontab(cron, timezone="UTC")
                out.append(Job(f"backup-{kind}-{dept.id}", trigger, backup_job(dept.id, kind)))
        for dept in estate.departments:
            if runs_leaver_sync(dept, layout.target(estate, dept)):
                every = IntervalTrigger(seconds=duration_seconds(dept.identity.sync_interval))
                out.append(Job(f"identity-sync-{dept.id}", every, sync_job(dept.id)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="govmatrix demo scheduler")
    parser.add_argument("--root", required=True, type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    layout = Layout(args.root)
    scheduler = BlockingScheduler(timezone="UTC")
    for job in jobs(layout):
        scheduler.add_job(
            job.run,
            job.trigger,
            args=[layout],
            id=job.id,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
        log.info("scheduled %s: %s", job.id, job.trigger)
    scheduler.start()


if __name__ == "__main__":
    main()
