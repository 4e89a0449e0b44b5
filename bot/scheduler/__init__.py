"""Durable jobs: the database decides what runs, APScheduler only wakes us up.

APScheduler 3 silently drops a one-off job that is later than its
``misfire_grace_time``, and its SQLAlchemy job store pickles jobs and blocks the
event loop. So every job is a row (``core_jobs`` for one-off jobs,
``core_recurring_jobs`` for cron jobs) and the in-memory APScheduler jobs are
rebuilt from those rows at every start. What fell due while the bot was down is
decided explicitly by the kind's :class:`MissedPolicy`: run late, or record as
``missed`` -- never dropped without a trace.

Handlers must be idempotent. A job whose process died mid-run is left ``running``
and is run again at the next start; features receive ids (never objects) and mark
in their own rows what they already sent.

Statuses of a one-off job: ``pending`` -> ``running`` -> ``done`` | ``failed``;
``pending`` -> ``missed`` (too late for its policy) or ``cancelled``. A failed run
goes back to ``pending`` with a later ``run_at`` until it has had
``MAX_ATTEMPTS`` attempts. A ``running`` row found at start-up (the process died
mid-job) is ``pending`` again, or ``failed`` ("interrupted") if that was its last
attempt.

The parts: :mod:`~bot.scheduler.job_rows` (the tables), :mod:`~bot.scheduler.alarms`
(APScheduler), :mod:`~bot.scheduler.firing` (claiming and running),
:mod:`~bot.scheduler.policy` (late jobs) and :mod:`~bot.scheduler.cron` (crontab
expressions); :class:`SchedulerService` is what features use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from bot.clock import Clock, ensure_utc
from bot.scheduler.alarms import Alarms
from bot.scheduler.cron import cron_trigger, next_after, zone_info
from bot.scheduler.firing import JobHandler, JobRunner, Registration
from bot.scheduler.job_rows import JobRows
from bot.scheduler.policy import DEFAULT_POLICY, MissedPolicy
from bot.storage.database import Database, database_unavailable

log = logging.getLogger(__name__)

#: How often a wake-up that met a database outage tries again.
_OUTAGE_RETRY_S = 1.0


class SchedulerService:
    """Durable one-off and cron jobs, woken by an in-memory APScheduler.

    Features ``register()`` a handler per job *kind* before ``start()``; jobs carry a
    deterministic id chosen by the feature (``events:remind:12:24h``), so scheduling
    the same thing twice replaces rather than duplicates.
    """

    def __init__(self, db: Database, clock: Clock, timezone: str) -> None:
        self._clock = clock
        self._timezone = timezone
        self._registrations: dict[str, Registration] = {}
        self._rows = JobRows(db, clock)
        self._alarms = Alarms(
            zone_info(timezone), self._registrations, self._fire_armed, self._fire_armed_recurring
        )
        self._runner = JobRunner(self._rows, clock, self._registrations, self._alarms.arm_once)

    # -- registration --------------------------------------------------------

    def register(self, kind: str, handler: JobHandler, policy: MissedPolicy = DEFAULT_POLICY) -> None:
        """Say which coroutine runs jobs of ``kind`` and what to do when they are late."""
        if self._alarms.started:
            raise RuntimeError(f"register job kind {kind!r} before the scheduler starts")
        if kind in self._registrations:
            raise ValueError(f"job kind {kind!r} is already registered")
        self._registrations[kind] = Registration(handler, policy)

    @property
    def started(self) -> bool:
        return self._alarms.started

    # -- scheduling ------------------------------------------------------------

    async def schedule_once(
        self,
        job_id: str,
        kind: str,
        run_at: datetime,
        payload: dict[str, Any] | None = None,
        *,
        replace: bool = True,
    ) -> None:
        """Create or replace the one-off job ``job_id`` to run at ``run_at``.

        ``replace=True`` resets the row to ``pending`` whatever its status, because a
        feature that reschedules (an event moved) wants the job to run again; a feature
        that only wants to be sure the job exists passes ``replace=False``, which leaves
        an existing row (and its status) alone.
        """
        run_at = ensure_utc(run_at)
        if await self._rows.put_once(job_id, kind, run_at, dict(payload or {}), replace=replace):
            self._alarms.arm_once(job_id, kind, run_at)

    async def schedule_many(self, jobs: Iterable[tuple[str, str, datetime, dict[str, Any]]]) -> int:
        """Create those of ``(job_id, kind, run_at, payload)`` that do not exist yet, in
        one transaction; existing rows (whatever their status) are left alone, as with
        ``schedule_once(..., replace=False)``. Returns how many were created.

        For a feature that makes sure, at start-up, that thousands of jobs exist.
        """
        wanted = {
            job_id: (kind, ensure_utc(run_at), dict(payload))
            for job_id, kind, run_at, payload in jobs
            if not self._rows.beyond_retention(job_id, ensure_utc(run_at))
        }
        if not wanted:
            return 0
        rows = await self._rows.add_missing(wanted)
        for row in rows:
            self._alarms.arm_once(str(row["job_id"]), str(row["kind"]), cast(datetime, row["run_at"]))
        return len(rows)

    async def schedule_cron(
        self,
        job_id: str,
        kind: str,
        cron: str,
        payload: dict[str, Any] | None = None,
        timezone: str | None = None,
    ) -> None:
        """Create or update the recurring job ``job_id`` (5-field crontab, local time).

        Raises ``ValueError`` when the expression or zone is invalid or never fires.
        """
        zone_name = timezone or self._timezone
        trigger = cron_trigger(cron, zone_name)
        now = self._clock.now()
        if next_after(trigger, now) is None:
            raise ValueError(f"invalid cron expression {cron!r}: it never fires")
        await self._rows.put_recurring(job_id, kind, cron, zone_name, dict(payload or {}), now)
        self._alarms.arm_recurring(job_id, kind, trigger)

    async def cancel(self, job_id: str) -> bool:
        """Cancel a pending one-off job or delete a recurring one; True if there was one.

        A job that is running right now finishes its current run.
        """
        found = await self._rows.cancel(job_id)
        self._alarms.disarm(job_id)
        return found

    # -- life cycle ------------------------------------------------------------

    async def start(self) -> None:
        """Start waking up, and settle everything that fell due while we were down.

        Call it once the transport can send: due jobs run before this returns.
        """
        if self._alarms.started:
            raise RuntimeError("the scheduler is already started")
        now = self._clock.now()
        await self._settle_interrupted(now)
        self._alarms.start()
        await self._warn_unregistered()
        ran = await self.run_due(now)
        if ran:
            log.info("ran %d job(s) that fell due while the bot was down", ran)
        await self._arm_stored()
        log.info("scheduler started: %d job(s) armed", self.pending_count())

    async def _settle_interrupted(self, now: datetime) -> None:
        """Jobs the process died while running run again (handlers are idempotent) --
        unless they have used up their attempts: a job that keeps taking the bot down
        with it must not do so at every start."""
        given_up, revived = await self._rows.settle_interrupted(now)
        if given_up:
            log.error("%d job(s) were interrupted on their last attempt; marked failed", given_up)
        if revived:
            log.warning("%d job(s) were interrupted by a stop and will run again", revived)

    async def _arm_stored(self) -> None:
        """Arm every stored pending one-off job and recurring job of a registered kind."""
        pending, recurring = await self._rows.stored()
        for job_id, kind, run_at in pending:
            if kind in self._registrations:
                self._alarms.arm_once(job_id, kind, run_at)
        for job_id, kind, cron, zone_name in recurring:
            if kind not in self._registrations:
                continue
            try:
                trigger = cron_trigger(cron, zone_name)
            except ValueError:
                log.exception("recurring job %s has an unusable schedule; not armed", job_id)
                continue
            self._alarms.arm_recurring(job_id, kind, trigger)
            # Only the most recent missed occurrence is considered: a weekly digest
            # missed three times is sent once, not three times in a row.
            await self._fire_recurring(job_id)

    async def _warn_unregistered(self) -> None:
        pending_kinds, recurring_kinds = await self._rows.kinds()
        for kind, count in pending_kinds:
            if kind not in self._registrations:
                log.warning(
                    "%d pending job(s) of kind %r have no handler (feature disabled?); they stay pending",
                    count,
                    kind,
                )
        for kind in sorted({kind for kind in recurring_kinds if kind not in self._registrations}):
            log.warning("recurring jobs of kind %r have no handler; not armed", kind)

    async def catch_up(self) -> int:
        """Run what is due now, one-off and recurring, as the timers would.

        For a clock that jumps (a test living "next week", a host whose time was set
        forward): timers armed for the old time have not fired yet.
        """
        ran = await self.run_due()
        for job_id in await self._rows.recurring_ids():
            if await self._fire_recurring(job_id):
                ran += 1
        return ran

    async def shutdown(self) -> None:
        """Stop waking up. Handlers still running are cancelled; their rows stay
        ``running`` and run again at the next start."""
        self._alarms.shutdown()

    # -- running ---------------------------------------------------------------

    async def run_due(self, now: datetime | None = None) -> int:
        """Run every pending one-off job due at ``now`` (default: the clock), oldest first.

        Returns how many handlers ran (successfully or not); jobs too late for their
        policy are recorded as missed and not counted.
        """
        moment = ensure_utc(now) if now is not None else self._clock.now()
        return await self._runner.run_due(moment)

    async def _fire(self, job_id: str, now: datetime | None = None) -> bool:
        """Run one one-off job if it is still pending and due; True if its handler ran.

        Both APScheduler wake-ups and :meth:`run_due` come here, and the claim makes
        sure only one of them runs the job.
        """
        return await self._runner.fire(job_id, now)

    async def _fire_recurring(self, job_id: str) -> bool:
        """Run the most recent due occurrence of a recurring job, at most once."""
        return await self._runner.fire_recurring(job_id)

    async def _fire_armed_recurring(self, job_id: str) -> None:
        await self._fire_armed(job_id, recurring=True)

    async def _fire_armed(self, job_id: str, recurring: bool = False) -> None:
        """An APScheduler wake-up: a database outage delays the job, never drops it."""
        while True:
            try:
                await (self._fire_recurring(job_id) if recurring else self._fire(job_id))
                return
            except Exception as exc:
                if not (database_unavailable(exc) and self._alarms.started):
                    raise
            await asyncio.sleep(_OUTAGE_RETRY_S)
            if recurring:
                continue  # its claim (last_fire) is written before the handler runs, or not at all
            with contextlib.suppress(Exception):  # claimed before the outage: pending again
                await self._rows.release_claim(job_id)

    # -- health ----------------------------------------------------------------

    def pending_count(self) -> int:
        """How many wake-ups are armed in memory right now (0 before start)."""
        return self._alarms.count()

    async def stats(self) -> dict[str, int]:
        """One-off jobs counted by status, plus ``recurring``: the number of cron jobs."""
        return await self._rows.stats()
