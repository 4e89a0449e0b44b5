"""The job rows: ``core_jobs`` (one-off) and ``core_recurring_jobs`` (cron), the truth.

Every change of status is a conditional UPDATE (a compare-and-set), so two wake-ups
of the same job, or two processes, can never both run it or both finish it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update

from bot.clock import Clock
from bot.storage.database import Database
from bot.storage.models import RecurringJob, ScheduledJob
from bot.storage.results import rowcount

log = logging.getLogger(__name__)

PENDING = "pending"
RUNNING = "running"
DONE = "done"
MISSED = "missed"
FAILED = "failed"
CANCELLED = "cancelled"
STATUSES = (PENDING, RUNNING, DONE, MISSED, FAILED, CANCELLED)

MAX_ATTEMPTS = 3
"""A failing job is tried this many times in all before it is marked ``failed``."""

FINISHED_JOB_RETENTION = timedelta(days=90)
"""Finished one-off jobs are deleted this long after their run time (bot/retention.py).
So a job that far overdue is never created by an "ensure it exists" call
(``replace=False``, :meth:`SchedulerService.schedule_many`): its row may have been
deleted after it ran, and it must not run again."""

_EXISTS_CHUNK = 500
"""Job ids looked up per query when checking which of many jobs exist."""

Wanted = Mapping[str, tuple[str, datetime, dict[str, Any]]]
"""``job_id -> (kind, run_at, payload)`` of one-off jobs to create."""


def _new_row(job_id: str, kind: str, run_at: datetime, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "kind": kind,
        "run_at": run_at,
        "payload": payload,
        "status": PENDING,
        "attempts": 0,
        "finished_at": None,
        "note": None,
    }


class JobRows:
    """Reads and writes the job tables; knows nothing of handlers or APScheduler."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    # -- one-off jobs: creating and cancelling --------------------------------------

    def beyond_retention(self, job_id: str, run_at: datetime) -> bool:
        """True (and logged) when a job due at ``run_at`` is too old to be created."""
        if run_at >= self._clock.now() - FINISHED_JOB_RETENTION:
            return False
        log.warning(
            "job %s is not created: it was due %s, longer ago than finished jobs are kept",
            job_id,
            run_at.isoformat(),
        )
        return True

    async def put_once(
        self, job_id: str, kind: str, run_at: datetime, payload: dict[str, Any], *, replace: bool
    ) -> bool:
        """Create the row, or (``replace``) reset it to ``pending``; True when written."""
        async with self._db.transaction() as session:
            row = await session.get(ScheduledJob, job_id)
            if row is None:
                if not replace and self.beyond_retention(job_id, run_at):
                    return False
                session.add(ScheduledJob(**_new_row(job_id, kind, run_at, payload)))
            elif not replace:
                return False
            else:
                # A job running right now finishes with a conditional update that
                # no longer matches, so this replacement survives it.
                row.kind = kind
                row.run_at = run_at
                row.payload = payload
                row.status = PENDING
                row.attempts = 0
                row.finished_at = None
                row.note = None
        return True

    async def add_missing(self, wanted: Wanted) -> list[dict[str, Any]]:
        """Insert the wanted jobs that have no row yet, in one transaction; the new rows."""
        ids = list(wanted)
        async with self._db.transaction() as session:
            existing: set[str] = set()
            for start in range(0, len(ids), _EXISTS_CHUNK):
                chunk = ids[start : start + _EXISTS_CHUNK]
                query = select(ScheduledJob.job_id).where(ScheduledJob.job_id.in_(chunk))
                existing.update((await session.scalars(query)).all())
            rows = [
                _new_row(job_id, kind, run_at, payload)
                for job_id, (kind, run_at, payload) in wanted.items()
                if job_id not in existing
            ]
            if rows:
                await session.execute(insert(ScheduledJob), rows)
        return rows

    async def cancel(self, job_id: str) -> bool:
        """Cancel a pending one-off job or delete a recurring one; True if there was one."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            cancelled = rowcount(
                await session.execute(
                    update(ScheduledJob)
                    .where(ScheduledJob.job_id == job_id, ScheduledJob.status == PENDING)
                    .values(status=CANCELLED, finished_at=now)
                    .execution_options(synchronize_session=False)
                )
            )
            deleted = rowcount(
                await session.execute(
                    delete(RecurringJob)
                    .where(RecurringJob.job_id == job_id)
                    .execution_options(synchronize_session=False)
                )
            )
        return bool(cancelled or deleted)

    # -- one-off jobs: running ----------------------------------------------------------

    async def due_ids(self, moment: datetime, kinds: list[str]) -> list[str]:
        """Pending jobs of ``kinds`` due at ``moment``, oldest first."""
        async with self._db.session() as session:
            return list(
                (
                    await session.scalars(
                        select(ScheduledJob.job_id)
                        .where(
                            ScheduledJob.status == PENDING,
                            ScheduledJob.run_at <= moment,
                            ScheduledJob.kind.in_(kinds),
                        )
                        .order_by(ScheduledJob.run_at, ScheduledJob.job_id)
                    )
                ).all()
            )

    async def pending(self, job_id: str) -> tuple[str, datetime, dict[str, Any]] | None:
        """Kind, due time and payload of a job that is still pending; None otherwise."""
        async with self._db.session() as session:
            row = await session.get(ScheduledJob, job_id)
            if row is None or row.status != PENDING:
                return None
            return row.kind, row.run_at, dict(row.payload or {})

    async def mark_missed(self, job_id: str, run_at: datetime, moment: datetime, note: str) -> bool:
        """Record a pending job as missed; False when it changed meanwhile."""
        async with self._db.transaction() as session:
            return bool(
                rowcount(
                    await session.execute(
                        update(ScheduledJob)
                        .where(
                            ScheduledJob.job_id == job_id,
                            ScheduledJob.status == PENDING,
                            ScheduledJob.run_at == run_at,
                        )
                        .values(status=MISSED, finished_at=moment, note=note)
                        .execution_options(synchronize_session=False)
                    )
                )
            )

    async def claim(self, job_id: str, run_at: datetime) -> int | None:
        """Turn the pending row into a running one; its attempt number, or None when
        another caller (or process) claimed it first.

        A compare-and-set in the database, so it holds across processes too: on
        PostgreSQL the UPDATE takes the row lock, a second claimer waits for it and then
        re-checks the WHERE against the committed row (no longer pending: no row);
        SQLite's BEGIN IMMEDIATE runs the two one after the other.
        """
        async with self._db.transaction() as session:
            claimed = rowcount(
                await session.execute(
                    update(ScheduledJob)
                    .where(
                        ScheduledJob.job_id == job_id,
                        ScheduledJob.status == PENDING,
                        ScheduledJob.run_at == run_at,
                    )
                    .values(status=RUNNING, attempts=ScheduledJob.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
            )
            if not claimed:
                return None
            return (
                await session.scalars(select(ScheduledJob.attempts).where(ScheduledJob.job_id == job_id))
            ).one()

    async def finish_run(self, job_id: str, attempts: int, values: dict[str, Any]) -> bool:
        """Write the outcome of the run ``attempts``; False when the job was replaced
        while it ran (the replacement stands)."""
        async with self._db.transaction() as session:
            return bool(
                rowcount(
                    await session.execute(
                        update(ScheduledJob)
                        .where(
                            ScheduledJob.job_id == job_id,
                            ScheduledJob.status == RUNNING,
                            ScheduledJob.attempts == attempts,
                        )
                        .values(**values)
                        .execution_options(synchronize_session=False)
                    )
                )
            )

    async def release_claim(self, job_id: str) -> None:
        """A run cut off by a database outage: the job is pending again."""
        async with self._db.transaction() as session:
            await session.execute(
                update(ScheduledJob)
                .where(ScheduledJob.job_id == job_id, ScheduledJob.status == RUNNING)
                .values(status=PENDING)
                .execution_options(synchronize_session=False)
            )

    async def settle_interrupted(self, now: datetime) -> tuple[int, int]:
        """Rows left ``running`` by a dead process: (given up, pending again)."""
        async with self._db.transaction() as session:
            given_up = rowcount(
                await session.execute(
                    update(ScheduledJob)
                    .where(ScheduledJob.status == RUNNING, ScheduledJob.attempts >= MAX_ATTEMPTS)
                    .values(status=FAILED, finished_at=now, note="interrupted")
                    .execution_options(synchronize_session=False)
                )
            )
            revived = rowcount(
                await session.execute(
                    update(ScheduledJob)
                    .where(ScheduledJob.status == RUNNING)
                    .values(status=PENDING)
                    .execution_options(synchronize_session=False)
                )
            )
        return given_up, revived

    # -- recurring jobs ---------------------------------------------------------------

    async def put_recurring(
        self, job_id: str, kind: str, cron: str, zone_name: str, payload: dict[str, Any], now: datetime
    ) -> None:
        """Create or update the recurring job's row."""
        async with self._db.transaction() as session:
            row = await session.get(RecurringJob, job_id)
            if row is None:
                session.add(
                    RecurringJob(
                        job_id=job_id,
                        kind=kind,
                        cron=cron,
                        timezone=zone_name,
                        payload=payload,
                        last_fire=None,
                        created_at=now,
                    )
                )
            else:
                if row.cron != cron or row.timezone != zone_name:
                    # Occurrences of the old schedule are no debt of the new one.
                    row.last_fire = now
                row.kind = kind
                row.cron = cron
                row.timezone = zone_name
                row.payload = payload

    async def recurring(self, job_id: str) -> tuple[str, str, str, datetime, dict[str, Any]] | None:
        """Kind, cron, zone, the moment after which occurrences count, and payload."""
        async with self._db.session() as session:
            row = await session.get(RecurringJob, job_id)
            if row is None:
                return None
            return row.kind, row.cron, row.timezone, row.last_fire or row.created_at, dict(row.payload or {})

    async def claim_occurrence(self, job_id: str, occurrence: datetime) -> bool:
        """Move ``last_fire`` forward to ``occurrence``; False when it already was."""
        async with self._db.transaction() as session:
            return bool(
                rowcount(
                    await session.execute(
                        update(RecurringJob)
                        .where(
                            RecurringJob.job_id == job_id,
                            or_(RecurringJob.last_fire.is_(None), RecurringJob.last_fire < occurrence),
                        )
                        .values(last_fire=occurrence)
                        .execution_options(synchronize_session=False)
                    )
                )
            )

    async def recurring_ids(self) -> list[str]:
        async with self._db.session() as session:
            return list((await session.scalars(select(RecurringJob.job_id))).all())

    # -- everything stored ------------------------------------------------------------

    async def stored(self) -> tuple[list[tuple[str, str, datetime]], list[tuple[str, str, str, str]]]:
        """Pending one-off jobs ``(id, kind, run_at)`` and recurring ``(id, kind, cron, zone)``."""
        async with self._db.session() as session:
            pending = (
                await session.execute(
                    select(ScheduledJob.job_id, ScheduledJob.kind, ScheduledJob.run_at).where(
                        ScheduledJob.status == PENDING
                    )
                )
            ).all()
            recurring = (
                await session.execute(
                    select(RecurringJob.job_id, RecurringJob.kind, RecurringJob.cron, RecurringJob.timezone)
                )
            ).all()
        return (
            [(job_id, kind, run_at) for job_id, kind, run_at in pending],
            [(job_id, kind, cron, zone_name) for job_id, kind, cron, zone_name in recurring],
        )

    async def kinds(self) -> tuple[list[tuple[str, int]], list[str]]:
        """Pending one-off jobs counted by kind, and the kinds of recurring jobs."""
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(ScheduledJob.kind, func.count())
                    .where(ScheduledJob.status == PENDING)
                    .group_by(ScheduledJob.kind)
                )
            ).all()
            recurring_kinds = (await session.scalars(select(RecurringJob.kind).distinct())).all()
        return [(kind, count) for kind, count in rows], list(recurring_kinds)

    async def stats(self) -> dict[str, int]:
        """One-off jobs counted by status, plus ``recurring``: the number of cron jobs."""
        counts = dict.fromkeys(STATUSES, 0)
        async with self._db.session() as session:
            rows = (
                await session.execute(select(ScheduledJob.status, func.count()).group_by(ScheduledJob.status))
            ).all()
            recurring = (await session.scalars(select(func.count()).select_from(RecurringJob))).one()
        for status, count in rows:
            counts[status] = count
        counts["recurring"] = recurring
        return counts
