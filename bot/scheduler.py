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

Cron expressions are standard 5-field crontab. APScheduler 3 numbers weekdays from
Monday = 0 (crontab uses Sunday = 0), so the day-of-week field is translated here
instead of being handed to ``CronTrigger.from_crontab``, which would shift every
numeric weekday by one day.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.engine import CursorResult, Result

from bot.clock import Clock, ensure_utc
from bot.storage.database import Database, database_unavailable
from bot.storage.models import RecurringJob, ScheduledJob

log = logging.getLogger(__name__)

JobHandler = Callable[[str, dict[str, Any]], Awaitable[None]]
"""``handler(job_id, payload)``; must be idempotent (it may run again after a crash)."""

PENDING = "pending"
RUNNING = "running"
DONE = "done"
MISSED = "missed"
FAILED = "failed"
CANCELLED = "cancelled"
STATUSES = (PENDING, RUNNING, DONE, MISSED, FAILED, CANCELLED)

MAX_ATTEMPTS = 3
"""A failing job is tried this many times in all before it is marked ``failed``."""

RETRY_DELAY = timedelta(minutes=1)
"""First retry delay; doubled for every further attempt (1 min, 2 min, ...)."""

FINISHED_JOB_RETENTION = timedelta(days=90)
"""Finished one-off jobs are deleted this long after their run time (bot/retention.py).
So a job that far overdue is never created by an "ensure it exists" call
(``replace=False``, :meth:`SchedulerService.schedule_many`): its row may have been
deleted after it ran, and it must not run again."""

# APScheduler wakes us with its own clock; a wake-up a hair before the stored
# run_at (rounding, clock steps) must still count as due.
_EARLY_TOLERANCE = timedelta(seconds=1)
# "Never run late" still has to accept the few seconds between due and woken up.
_NEVER_TOLERANCE = timedelta(seconds=60)
#: How often a wake-up that met a database outage tries again.
_OUTAGE_RETRY_S = 1.0
_ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class MissedPolicy:
    """What to do with a job that fell due while nobody could run it.

    ``run_late_within=None`` runs it however late; a timedelta runs it when it is
    overdue by at most that much and records it as ``missed`` otherwise.
    """

    run_late_within: timedelta | None

    def __post_init__(self) -> None:
        if self.run_late_within is not None and self.run_late_within < timedelta(0):
            raise ValueError("run_late_within must not be negative")

    @classmethod
    def always(cls) -> MissedPolicy:
        """Run late, however late (e.g. a nudge: still worth sending)."""
        return cls(None)

    @classmethod
    def within(cls, limit: timedelta) -> MissedPolicy:
        """Run late when overdue by at most ``limit``; otherwise record as missed."""
        return cls(limit)

    @classmethod
    def never(cls) -> MissedPolicy:
        """Only run (nearly) on time: overdue by more than a minute means missed."""
        return cls(_NEVER_TOLERANCE)

    def allows(self, lateness: timedelta) -> bool:
        """True when a job overdue by ``lateness`` should still run."""
        return self.run_late_within is None or lateness <= self.run_late_within


DEFAULT_POLICY = MissedPolicy.within(timedelta(hours=6))


@dataclass(frozen=True)
class _Registration:
    handler: JobHandler
    policy: MissedPolicy


# ---------------------------------------------------------------------------
# Cron expressions
# ---------------------------------------------------------------------------

_CRONTAB_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_ITEM = re.compile(r"^(?P<range>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>\d+))?$")


def _crontab_day(token: str, expression: str) -> int:
    """A crontab weekday (0-7 or a name) as 0..6 with Sunday = 0."""
    if token.isdigit():
        number = int(token)
        if number > 7:
            raise ValueError(f"invalid cron expression {expression!r}: day of week {number} is not in 0-7")
        return number % 7
    if token[:3] in _CRONTAB_DAYS and len(token) == 3:
        return _CRONTAB_DAYS.index(token)
    raise ValueError(f"invalid cron expression {expression!r}: unknown day of week {token!r}")


def _translate_day_of_week(field: str, expression: str) -> str:
    """Crontab day-of-week field (Sunday = 0 or 7) -> APScheduler 3 weekday names."""
    days: set[int] = set()
    for item in field.lower().split(","):
        match = _DOW_ITEM.match(item)
        if match is None:
            raise ValueError(f"invalid cron expression {expression!r}: cannot read day of week {item!r}")
        part, step_text = match.group("range"), match.group("step")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"invalid cron expression {expression!r}: step must be at least 1")
        if part == "*":
            first, last = 0, 6
        elif "-" in part:
            start_token, end_token = part.split("-", 1)
            first = _crontab_day(start_token, expression)
            # "1-7" means Monday to Sunday: keep 7 as the end of the range.
            last = 7 if end_token == "7" else _crontab_day(end_token, expression)
            if first > last:
                raise ValueError(
                    f"invalid cron expression {expression!r}: day-of-week range {part!r} runs backwards"
                )
        else:
            first = last = _crontab_day(part, expression)
            if step_text:
                last = 6
        days.update(day % 7 for day in range(first, last + 1, step))
    if len(days) == 7:
        return "*"
    return ",".join(_CRONTAB_DAYS[day] for day in sorted(days))


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {timezone!r}") from exc


def cron_trigger(cron: str, timezone: str) -> CronTrigger:
    """An APScheduler trigger for a standard 5-field crontab expression.

    Raises ``ValueError`` naming the expression when it cannot be read or never fires.
    """
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(
            f"invalid cron expression {cron!r}: expected 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    minute, hour, day, month, day_of_week = fields
    weekdays = _translate_day_of_week(day_of_week, cron)
    if day != "*" and weekdays != "*":
        # crontab fires when EITHER field matches, APScheduler only when both do;
        # refusing is better than silently firing on other days than the author meant.
        raise ValueError(
            f"invalid cron expression {cron!r}: restricting both day-of-month and "
            "day-of-week is not supported; schedule two jobs instead"
        )
    zone = _zone(timezone)
    try:
        trigger = CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=weekdays,
            timezone=zone,
        )
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {cron!r}: {exc}") from exc
    return trigger


def _next_after(trigger: CronTrigger, moment: datetime) -> datetime | None:
    """The first fire time strictly after ``moment``, in UTC."""
    fire = trigger.get_next_fire_time(None, moment + _ONE_MICROSECOND)
    return None if fire is None else cast(datetime, fire).astimezone(UTC)


def next_fire_times(cron: str, tz: str, after: datetime, n: int) -> list[datetime]:
    """The next ``n`` fire times (aware UTC) of ``cron`` in zone ``tz``, strictly after ``after``.

    Pure; used by tests and to preview a schedule to an organiser.
    """
    trigger = cron_trigger(cron, tz)
    moment = ensure_utc(after)
    result: list[datetime] = []
    while len(result) < n:
        fire = _next_after(trigger, moment)
        if fire is None:
            break
        result.append(fire)
        moment = fire
    return result


def _latest_fire_time(trigger: CronTrigger, after: datetime, until: datetime) -> datetime | None:
    """The most recent fire time in ``(after, until]``, or None.

    Searching from ``after`` would walk every occurrence of a minutely job that was
    down for months; a short window before ``until`` almost always holds the answer,
    and the windows only widen when it does not.
    """
    if until <= after:
        return None
    for window in (timedelta(days=2), timedelta(days=40), timedelta(days=400), None):
        start = after if window is None else max(after, until - window)
        latest: datetime | None = None
        fire = _next_after(trigger, start)
        while fire is not None and fire <= until:
            latest = fire
            fire = _next_after(trigger, fire)
        if latest is not None or start == after:
            return latest
    return None


def _rowcount(result: Result[Any]) -> int:
    # UPDATE/DELETE results are cursor results; the ORM types them as plain Result.
    return cast(CursorResult[Any], result).rowcount


def _round(delta: timedelta) -> timedelta:
    return timedelta(seconds=round(delta.total_seconds()))


# ---------------------------------------------------------------------------
# The service
# ---------------------------------------------------------------------------


class SchedulerService:
    """Durable one-off and cron jobs, woken by an in-memory APScheduler.

    Features ``register()`` a handler per job *kind* before ``start()``; jobs carry a
    deterministic id chosen by the feature (``events:remind:12:24h``), so scheduling
    the same thing twice replaces rather than duplicates.
    """

    def __init__(self, db: Database, clock: Clock, timezone: str) -> None:
        self._db = db
        self._clock = clock
        self._timezone = timezone
        self._zone = _zone(timezone)
        self._registrations: dict[str, _Registration] = {}
        self._scheduler = AsyncIOScheduler(timezone=self._zone)
        self._started = False

    # -- registration --------------------------------------------------------

    def register(self, kind: str, handler: JobHandler, policy: MissedPolicy = DEFAULT_POLICY) -> None:
        """Say which coroutine runs jobs of ``kind`` and what to do when they are late."""
        if self._started:
            raise RuntimeError(f"register job kind {kind!r} before the scheduler starts")
        if kind in self._registrations:
            raise ValueError(f"job kind {kind!r} is already registered")
        self._registrations[kind] = _Registration(handler, policy)

    @property
    def started(self) -> bool:
        return self._started

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
        data = dict(payload or {})
        async with self._db.transaction() as session:
            row = await session.get(ScheduledJob, job_id)
            if row is None:
                if not replace and self._beyond_retention(job_id, run_at):
                    return
                session.add(
                    ScheduledJob(
                        job_id=job_id,
                        kind=kind,
                        run_at=run_at,
                        payload=data,
                        status=PENDING,
                        attempts=0,
                        finished_at=None,
                        note=None,
                    )
                )
            elif not replace:
                return
            else:
                # A job running right now finishes with a conditional update that
                # no longer matches, so this replacement survives it.
                row.kind = kind
                row.run_at = run_at
                row.payload = data
                row.status = PENDING
                row.attempts = 0
                row.finished_at = None
                row.note = None
        self._arm_once(job_id, kind, run_at)

    async def schedule_many(self, jobs: Iterable[tuple[str, str, datetime, dict[str, Any]]]) -> int:
        """Create those of ``(job_id, kind, run_at, payload)`` that do not exist yet, in
        one transaction; existing rows (whatever their status) are left alone, as with
        ``schedule_once(..., replace=False)``. Returns how many were created.

        For a feature that makes sure, at start-up, that thousands of jobs exist.
        """
        wanted = {
            job_id: (kind, ensure_utc(run_at), dict(payload))
            for job_id, kind, run_at, payload in jobs
            if not self._beyond_retention(job_id, ensure_utc(run_at))
        }
        if not wanted:
            return 0
        ids = list(wanted)
        async with self._db.transaction() as session:
            existing: set[str] = set()
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                query = select(ScheduledJob.job_id).where(ScheduledJob.job_id.in_(chunk))
                existing.update((await session.scalars(query)).all())
            rows: list[dict[str, Any]] = [
                {
                    "job_id": job_id,
                    "kind": kind,
                    "run_at": run_at,
                    "payload": payload,
                    "status": PENDING,
                    "attempts": 0,
                    "finished_at": None,
                    "note": None,
                }
                for job_id, (kind, run_at, payload) in wanted.items()
                if job_id not in existing
            ]
            if rows:
                await session.execute(insert(ScheduledJob), rows)
        for row in rows:
            self._arm_once(str(row["job_id"]), str(row["kind"]), cast(datetime, row["run_at"]))
        return len(rows)

    def _beyond_retention(self, job_id: str, run_at: datetime) -> bool:
        if run_at >= self._clock.now() - FINISHED_JOB_RETENTION:
            return False
        log.warning(
            "job %s is not created: it was due %s, longer ago than finished jobs are kept",
            job_id,
            run_at.isoformat(),
        )
        return True

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
        if _next_after(trigger, now) is None:
            raise ValueError(f"invalid cron expression {cron!r}: it never fires")
        data = dict(payload or {})
        async with self._db.transaction() as session:
            row = await session.get(RecurringJob, job_id)
            if row is None:
                session.add(
                    RecurringJob(
                        job_id=job_id,
                        kind=kind,
                        cron=cron,
                        timezone=zone_name,
                        payload=data,
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
                row.payload = data
        self._arm_recurring(job_id, kind, trigger)

    async def cancel(self, job_id: str) -> bool:
        """Cancel a pending one-off job or delete a recurring one; True if there was one.

        A job that is running right now finishes its current run.
        """
        now = self._clock.now()
        async with self._db.transaction() as session:
            cancelled = _rowcount(
                await session.execute(
                    update(ScheduledJob)
                    .where(ScheduledJob.job_id == job_id, ScheduledJob.status == PENDING)
                    .values(status=CANCELLED, finished_at=now)
                    .execution_options(synchronize_session=False)
                )
            )
            deleted = _rowcount(
                await session.execute(
                    delete(RecurringJob)
                    .where(RecurringJob.job_id == job_id)
                    .execution_options(synchronize_session=False)
                )
            )
        self._disarm(job_id)
        return bool(cancelled or deleted)

    # -- life cycle ------------------------------------------------------------

    async def start(self) -> None:
        """Start waking up, and settle everything that fell due while we were down.

        Call it once the transport can send: due jobs run before this returns.
        """
        if self._started:
            raise RuntimeError("the scheduler is already started")
        now = self._clock.now()
        await self._settle_interrupted(now)
        self._scheduler.start()
        self._started = True
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
        async with self._db.transaction() as session:
            given_up = _rowcount(
                await session.execute(
                    update(ScheduledJob)
                    .where(ScheduledJob.status == RUNNING, ScheduledJob.attempts >= MAX_ATTEMPTS)
                    .values(status=FAILED, finished_at=now, note="interrupted")
                    .execution_options(synchronize_session=False)
                )
            )
            revived = _rowcount(
                await session.execute(
                    update(ScheduledJob)
                    .where(ScheduledJob.status == RUNNING)
                    .values(status=PENDING)
                    .execution_options(synchronize_session=False)
                )
            )
        if given_up:
            log.error("%d job(s) were interrupted on their last attempt; marked failed", given_up)
        if revived:
            log.warning("%d job(s) were interrupted by a stop and will run again", revived)

    async def _arm_stored(self) -> None:
        """Arm every stored pending one-off job and recurring job of a registered kind."""
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
        for job_id, kind, run_at in pending:
            if kind in self._registrations:
                self._arm_once(job_id, kind, run_at)
        for job_id, kind, cron, zone_name in recurring:
            if kind not in self._registrations:
                continue
            try:
                trigger = cron_trigger(cron, zone_name)
            except ValueError:
                log.exception("recurring job %s has an unusable schedule; not armed", job_id)
                continue
            self._arm_recurring(job_id, kind, trigger)
            # Only the most recent missed occurrence is considered: a weekly digest
            # missed three times is sent once, not three times in a row.
            await self._fire_recurring(job_id)

    async def catch_up(self) -> int:
        """Run what is due now, one-off and recurring, as the timers would.

        For a clock that jumps (a test living "next week", a host whose time was set
        forward): timers armed for the old time have not fired yet.
        """
        ran = await self.run_due()
        async with self._db.session() as session:
            recurring = (await session.scalars(select(RecurringJob.job_id))).all()
        for job_id in recurring:
            if await self._fire_recurring(job_id):
                ran += 1
        return ran

    async def shutdown(self) -> None:
        """Stop waking up. Handlers still running are cancelled; their rows stay
        ``running`` and run again at the next start."""
        if self._started and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._started = False

    # -- running ---------------------------------------------------------------

    async def run_due(self, now: datetime | None = None) -> int:
        """Run every pending one-off job due at ``now`` (default: the clock), oldest first.

        Returns how many handlers ran (successfully or not); jobs too late for their
        policy are recorded as missed and not counted.
        """
        moment = ensure_utc(now) if now is not None else self._clock.now()
        kinds = list(self._registrations)
        if not kinds:
            return 0
        async with self._db.session() as session:
            job_ids = (
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
        ran = 0
        for job_id in job_ids:
            if await self._fire(job_id, moment):
                ran += 1
        return ran

    async def _fire(self, job_id: str, now: datetime | None = None) -> bool:
        """Run one one-off job if it is still pending and due; True if its handler ran.

        Both APScheduler wake-ups and :meth:`run_due` come here, and the claim makes
        sure only one of them runs the job.
        """
        moment = now if now is not None else self._clock.now()
        pending = await self._pending(job_id)
        if pending is None:
            return False
        kind, run_at, payload = pending
        registration = self._registrations.get(kind)
        if registration is None:
            log.warning("job %s of unregistered kind %r stays pending", job_id, kind)
            return False
        if run_at > moment + _EARLY_TOLERANCE:
            # A stale wake-up (the job was moved later); the new time is armed.
            return False
        lateness = moment - run_at
        if not registration.policy.allows(lateness):
            await self._mark_missed(job_id, kind, run_at, moment, registration.policy)
            return False
        attempts = await self._claim(job_id, run_at)
        if attempts is None:
            return False
        if lateness > _NEVER_TOLERANCE:
            log.info("job %s (%s) runs %s late", job_id, kind, _round(lateness))
        try:
            await registration.handler(job_id, payload)
        except Exception as exc:
            if database_unavailable(exc):
                raise  # not the job's fault: _fire_armed runs it again once the database is back
            await self._after_failure(job_id, kind, attempts, exc)
            return True
        await self._mark_done(job_id, attempts)
        return True

    async def _fire_armed(self, job_id: str, recurring: bool = False) -> None:
        """An APScheduler wake-up: a database outage delays the job, never drops it."""
        while True:
            try:
                await (self._fire_recurring(job_id) if recurring else self._fire(job_id))
                return
            except Exception as exc:
                if not (database_unavailable(exc) and self._started):
                    raise
            await asyncio.sleep(_OUTAGE_RETRY_S)
            if recurring:
                continue  # its claim (last_fire) is written before the handler runs, or not at all
            with contextlib.suppress(Exception):  # claimed before the outage: pending again
                await self._db.execute_one(
                    update(ScheduledJob)
                    .where(ScheduledJob.job_id == job_id, ScheduledJob.status == RUNNING)
                    .values(status=PENDING)
                )

    async def _pending(self, job_id: str) -> tuple[str, datetime, dict[str, Any]] | None:
        """Kind, due time and payload of a job that is still pending; None otherwise."""
        async with self._db.session() as session:
            row = await session.get(ScheduledJob, job_id)
            if row is None or row.status != PENDING:
                return None
            return row.kind, row.run_at, dict(row.payload or {})

    async def _mark_missed(
        self, job_id: str, kind: str, run_at: datetime, moment: datetime, policy: MissedPolicy
    ) -> None:
        lateness = moment - run_at
        limit = policy.run_late_within
        async with self._db.transaction() as session:
            marked = _rowcount(
                await session.execute(
                    update(ScheduledJob)
                    .where(
                        ScheduledJob.job_id == job_id,
                        ScheduledJob.status == PENDING,
                        ScheduledJob.run_at == run_at,
                    )
                    .values(
                        status=MISSED,
                        finished_at=moment,
                        note=f"missed: overdue by {_round(lateness)}, policy allows {limit}",
                    )
                    .execution_options(synchronize_session=False)
                )
            )
        if marked:
            log.warning(
                "job %s (%s) missed: due %s, overdue by %s, policy allows %s",
                job_id,
                kind,
                run_at.isoformat(),
                _round(lateness),
                limit,
            )

    async def _claim(self, job_id: str, run_at: datetime) -> int | None:
        """Turn the pending row into a running one; its attempt number, or None when
        another caller (or process) claimed it first.

        A compare-and-set in the database, so it holds across processes too: on
        PostgreSQL the UPDATE takes the row lock, a second claimer waits for it and then
        re-checks the WHERE against the committed row (no longer pending: no row);
        SQLite's BEGIN IMMEDIATE runs the two one after the other.
        """
        async with self._db.transaction() as session:
            claimed = _rowcount(
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

    async def _mark_done(self, job_id: str, attempts: int) -> None:
        async with self._db.transaction() as session:
            # Conditional: if the job was replaced while it ran, the replacement stands.
            await session.execute(
                update(ScheduledJob)
                .where(
                    ScheduledJob.job_id == job_id,
                    ScheduledJob.status == RUNNING,
                    ScheduledJob.attempts == attempts,
                )
                .values(status=DONE, finished_at=self._clock.now(), note=None)
                .execution_options(synchronize_session=False)
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
        async with self._db.transaction() as session:
            updated = _rowcount(
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
        if updated and retry_at is not None:
            self._arm_once(job_id, kind, retry_at)

    async def _fire_recurring(self, job_id: str) -> bool:
        """Run the most recent due occurrence of a recurring job, at most once.

        The claim moves ``last_fire`` forward conditionally, so a wake-up racing the
        start-up catch-up cannot run the same occurrence twice.
        """
        now = self._clock.now()
        async with self._db.session() as session:
            row = await session.get(RecurringJob, job_id)
            if row is None:
                return False
            kind, cron, zone_name = row.kind, row.cron, row.timezone
            baseline = row.last_fire or row.created_at
            payload = dict(row.payload or {})
        registration = self._registrations.get(kind)
        if registration is None:
            log.warning("recurring job %s of unregistered kind %r not run", job_id, kind)
            return False
        occurrence = _latest_fire_time(cron_trigger(cron, zone_name), baseline, now + _EARLY_TOLERANCE)
        if occurrence is None:
            return False
        async with self._db.transaction() as session:
            claimed = _rowcount(
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
        if not claimed:
            return False
        lateness = now - occurrence
        if not registration.policy.allows(lateness):
            log.warning(
                "recurring job %s (%s) missed its occurrence at %s: overdue by %s, policy allows %s",
                job_id,
                kind,
                occurrence.isoformat(),
                _round(lateness),
                registration.policy.run_late_within,
            )
            return False
        if lateness > _NEVER_TOLERANCE:
            log.info(
                "recurring job %s (%s) runs its %s occurrence %s late",
                job_id,
                kind,
                occurrence.isoformat(),
                _round(lateness),
            )
        try:
            # The occurrence goes along so a handler can derive stable transaction ids.
            await registration.handler(job_id, {**payload, "occurrence": occurrence.isoformat()})
        except Exception:
            # No retry: the next occurrence is the retry of a recurring job.
            log.exception("recurring job %s (%s) failed", job_id, kind)
        return True

    # -- APScheduler plumbing ------------------------------------------------

    def _arm_once(self, job_id: str, kind: str, run_at: datetime) -> None:
        # Before start() nothing is armed: start() arms every pending row anyway.
        if not self._started:
            return
        if kind not in self._registrations:
            log.warning("job %s of unregistered kind %r is stored but not armed", job_id, kind)
            return
        self._scheduler.add_job(
            self._fire_armed,
            DateTrigger(run_date=run_at),
            args=[job_id],
            id=job_id,
            name=f"{kind} {job_id}",
            replace_existing=True,
            # None: never let APScheduler drop a late wake-up; the policy decides.
            misfire_grace_time=None,
            coalesce=True,
        )

    def _arm_recurring(self, job_id: str, kind: str, trigger: CronTrigger) -> None:
        if not self._started:
            return
        if kind not in self._registrations:
            log.warning("recurring job %s of unregistered kind %r is not armed", job_id, kind)
            return
        self._scheduler.add_job(
            self._fire_armed,
            trigger,
            args=[job_id, True],
            id=job_id,
            name=f"{kind} {job_id}",
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )

    def _disarm(self, job_id: str) -> None:
        if not self._started:
            return
        try:
            self._scheduler.remove_job(job_id)
        except JobLookupError:
            pass  # already fired, or never armed

    async def _warn_unregistered(self) -> None:
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(ScheduledJob.kind, func.count())
                    .where(ScheduledJob.status == PENDING)
                    .group_by(ScheduledJob.kind)
                )
            ).all()
            recurring_kinds = (await session.scalars(select(RecurringJob.kind).distinct())).all()
        for kind, count in rows:
            if kind not in self._registrations:
                log.warning(
                    "%d pending job(s) of kind %r have no handler (feature disabled?); they stay pending",
                    count,
                    kind,
                )
        for kind in _unregistered(recurring_kinds, self._registrations):
            log.warning("recurring jobs of kind %r have no handler; not armed", kind)

    # -- health ----------------------------------------------------------------

    def pending_count(self) -> int:
        """How many wake-ups are armed in memory right now (0 before start)."""
        if not self._started:
            return 0
        return len(self._scheduler.get_jobs())

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


def _unregistered(kinds: Iterable[str], registrations: dict[str, _Registration]) -> list[str]:
    return sorted({kind for kind in kinds if kind not in registrations})
