"""Running a job: claim its row, apply its kind's missed policy, call the handler, record.

Both APScheduler wake-ups and the start-up catch-up come here; the claims in
:mod:`bot.scheduler.job_rows` make sure only one of them runs a job (or an occurrence).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.scheduler.cron import cron_trigger, latest_fire_time
from bot.scheduler.job_rows import DONE, FAILED, MAX_ATTEMPTS, PENDING, JobRows
from bot.scheduler.policy import EARLY_TOLERANCE, NEVER_TOLERANCE, MissedPolicy, rounded
from bot.storage.database import database_unavailable

log = logging.getLogger(__name__)

JobHandler = Callable[[str, dict[str, Any]], Awaitable[None]]
"""``handler(job_id, payload)``; must be idempotent (it may run again after a crash)."""

RETRY_DELAY = timedelta(minutes=1)
"""First retry delay; doubled for every further attempt (1 min, 2 min, ...)."""


@dataclass(frozen=True)
class Registration:
    """What runs the jobs of one kind, and how late they may still run."""

    handler: JobHandler
    policy: MissedPolicy


Rearm = Callable[[str, str, datetime], None]
"""``rearm(job_id, kind, run_at)``: wake up again for a retry."""


class JobRunner:
    """Runs one-off jobs and occurrences of recurring jobs, each at most once."""

    def __init__(
        self, rows: JobRows, clock: Clock, registrations: dict[str, Registration], rearm: Rearm
    ) -> None:
        self._rows = rows
        self._clock = clock
        self._registrations = registrations
        self._rearm = rearm

    async def run_due(self, moment: datetime) -> int:
        """Run every pending one-off job due at ``moment``, oldest first; how many ran."""
        kinds = list(self._registrations)
        if not kinds:
            return 0
        ran = 0
        for job_id in await self._rows.due_ids(moment, kinds):
            if await self.fire(job_id, moment):
                ran += 1
        return ran

    # -- one-off jobs ------------------------------------------------------------------

    async def fire(self, job_id: str, now: datetime | None = None) -> bool:
        """Run one one-off job if it is still pending and due; True if its handler ran."""
        moment = now if now is not None else self._clock.now()
        pending = await self._rows.pending(job_id)
        if pending is None:
            return False
        kind, run_at, payload = pending
        registration = self._registrations.get(kind)
        if registration is None:
            log.warning("job %s of unregistered kind %r stays pending", job_id, kind)
            return False
        if run_at > moment + EARLY_TOLERANCE:
            # A stale wake-up (the job was moved later); the new time is armed.
            return False
        lateness = moment - run_at
        if not registration.policy.allows(lateness):
            await self._mark_missed(job_id, kind, run_at, moment, registration.policy)
            return False
        attempts = await self._rows.claim(job_id, run_at)
        if attempts is None:
            return False
        if lateness > NEVER_TOLERANCE:
            log.info("job %s (%s) runs %s late", job_id, kind, rounded(lateness))
        try:
            await registration.handler(job_id, payload)
        except Exception as exc:
            if database_unavailable(exc):
                raise  # not the job's fault: the wake-up runs it again once the database is back
            await self._after_failure(job_id, kind, attempts, exc)
            return True
        # Conditional: if the job was replaced while it ran, the replacement stands.
        await self._rows.finish_run(
            job_id, attempts, {"status": DONE, "finished_at": self._clock.now(), "note": None}
        )
        return True

    async def _mark_missed(
        self, job_id: str, kind: str, run_at: datetime, moment: datetime, policy: MissedPolicy
    ) -> None:
        lateness = moment - run_at
        limit = policy.run_late_within
        note = f"missed: overdue by {rounded(lateness)}, policy allows {limit}"
        if await self._rows.mark_missed(job_id, run_at, moment, note):
            log.warning(
                "job %s (%s) missed: due %s, overdue by %s, policy allows %s",
                job_id,
                kind,
                run_at.isoformat(),
                rounded(lateness),
                limit,
            )

    async def _after_failure(self, job_id: str, kind: str, attempts: int, exc: Exception) -> None:
        now = self._clock.now()
        # The note holds the class name only: messages may carry member data.
        reason = type(exc).__name__
        if attempts < MAX_ATTEMPTS:
            retry_at = now + RETRY_DELAY * (2 ** (attempts - 1))
            log.exception(
                "job %s (%s) failed (attempt %d of %d); retrying at %s",
                job_id,
                kind,
                attempts,
                MAX_ATTEMPTS,
                retry_at.isoformat(),
            )
            values: dict[str, Any] = {
                "status": PENDING,
                "run_at": retry_at,
                "note": f"attempt {attempts} failed: {reason}",
            }
        else:
            log.exception("job %s (%s) failed for good after %d attempts", job_id, kind, attempts)
            retry_at = None
            values = {"status": FAILED, "finished_at": now, "note": reason}
        updated = await self._rows.finish_run(job_id, attempts, values)
        if updated and retry_at is not None:
            self._rearm(job_id, kind, retry_at)

    # -- recurring jobs ----------------------------------------------------------------

    async def fire_recurring(self, job_id: str) -> bool:
        """Run the most recent due occurrence of a recurring job, at most once.

        The claim moves ``last_fire`` forward conditionally, so a wake-up racing the
        start-up catch-up cannot run the same occurrence twice.
        """
        now = self._clock.now()
        stored = await self._rows.recurring(job_id)
        if stored is None:
            return False
        kind, cron, zone_name, baseline, payload = stored
        registration = self._registrations.get(kind)
        if registration is None:
            log.warning("recurring job %s of unregistered kind %r not run", job_id, kind)
            return False
        occurrence = latest_fire_time(cron_trigger(cron, zone_name), baseline, now + EARLY_TOLERANCE)
        if occurrence is None:
            return False
        if not await self._rows.claim_occurrence(job_id, occurrence):
            return False
        lateness = now - occurrence
        if not registration.policy.allows(lateness):
            log.warning(
                "recurring job %s (%s) missed its occurrence at %s: overdue by %s, policy allows %s",
                job_id,
                kind,
                occurrence.isoformat(),
                rounded(lateness),
                registration.policy.run_late_within,
            )
            return False
        if lateness > NEVER_TOLERANCE:
            log.info(
                "recurring job %s (%s) runs its %s occurrence %s late",
                job_id,
                kind,
                occurrence.isoformat(),
                rounded(lateness),
            )
        try:
            # The occurrence goes along so a handler can derive stable transaction ids.
            await registration.handler(job_id, {**payload, "occurrence": occurrence.isoformat()})
        except Exception:
            # No retry: the next occurrence is the retry of a recurring job.
            log.exception("recurring job %s (%s) failed", job_id, kind)
        return True
