"""The in-memory APScheduler: only an alarm clock, rebuilt from the rows at every start.

APScheduler 3 silently drops a one-off job later than its ``misfire_grace_time``, so
every wake-up is armed without one; whether a late job still runs is for the kind's
:class:`~bot.scheduler.policy.MissedPolicy` to say when it fires.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Container
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

log = logging.getLogger(__name__)

Wake = Callable[[str], Awaitable[Any]]
"""What an alarm calls with the job id."""


class Alarms:
    """Wake-ups per job id; nothing is armed before :meth:`start`, which the caller
    follows by arming every stored row."""

    def __init__(
        self, zone: ZoneInfo, registered: Container[str], fire_once: Wake, fire_recurring: Wake
    ) -> None:
        self._scheduler = AsyncIOScheduler(timezone=zone)
        self._registered = registered
        self._fire_once = fire_once
        self._fire_recurring = fire_recurring
        self._started = False

    @property
    def started(self) -> bool:
        return self._started

    def start(self) -> None:
        self._scheduler.start()
        self._started = True

    def shutdown(self) -> None:
        if self._started and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._started = False

    def arm_once(self, job_id: str, kind: str, run_at: datetime) -> None:
        # Before start() nothing is armed: start() arms every pending row anyway.
        if not self._started:
            return
        if kind not in self._registered:
            log.warning("job %s of unregistered kind %r is stored but not armed", job_id, kind)
            return
        self._add(self._fire_once, DateTrigger(run_date=run_at), job_id, kind)

    def arm_recurring(self, job_id: str, kind: str, trigger: CronTrigger) -> None:
        if not self._started:
            return
        if kind not in self._registered:
            log.warning("recurring job %s of unregistered kind %r is not armed", job_id, kind)
            return
        self._add(self._fire_recurring, trigger, job_id, kind)

    def disarm(self, job_id: str) -> None:
        if not self._started:
            return
        try:
            self._scheduler.remove_job(job_id)
        except JobLookupError:
            pass  # already fired, or never armed

    def _add(self, wake: Wake, trigger: DateTrigger | CronTrigger, job_id: str, kind: str) -> None:
        self._scheduler.add_job(
            wake,
            trigger,
            args=[job_id],
            id=job_id,
            name=f"{kind} {job_id}",
            replace_existing=True,
            # None: never let APScheduler drop a late wake-up; the policy decides.
            misfire_grace_time=None,
            coalesce=True,
        )

    def count(self) -> int:
        """How many wake-ups are armed right now (0 before start)."""
        if not self._started:
            return 0
        return len(self._scheduler.get_jobs())
