"""Delivering a nudge when its job fires: the rules are checked again first.

The budget may have been used up, or the member may have opted out, since the nudge
was planned; a nudge woken in quiet hours or over budget waits for its next slot.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, ensure_utc
from bot.locks import KeyedLocks
from bot.nudges.records import DELIVER_KIND, DROPPED, PENDING, SENT
from bot.nudges.timing import NudgePolicy, budget_week, next_allowed_moment
from bot.scheduler import SchedulerService
from bot.storage.database import Database
from bot.storage.models import Member, Nudge

log = logging.getLogger(__name__)

Deliver = Callable[[int, str, str, dict[str, Any], datetime], Awaitable[None]]
"""``deliver(nudge_id, user_id, message_key, params, planned_for)``: sends the nudge (a
DM, in the member's language); the id lets the sender derive a transaction id, so a retry
after a crash cannot send the same nudge twice. ``planned_for`` is the moment it was due:
nudges planned for one moment (a digest to thousands) are due together in the outbox,
which sends messages due together side by side, and those due one after the other in turn."""


class NudgeDelivery:
    """The handler of ``nudges:deliver`` jobs."""

    def __init__(
        self, db: Database, scheduler: SchedulerService, clock: Clock, policy: NudgePolicy, deliver: Deliver
    ) -> None:
        self._db = db
        self._scheduler = scheduler
        self._clock = clock
        self._policy = policy
        self._deliver = deliver
        # Deliveries to one member run one at a time, so two nudges woken together
        # cannot both see "2 of 3 sent" and both go out.
        self._locks: KeyedLocks[str] = KeyedLocks()

    async def run_job(self, job_id: str, payload: dict[str, Any]) -> None:
        nudge_id = int(payload["nudge_id"])
        async with self._db.session() as session:
            user_id = await session.scalar(select(Nudge.user_id).where(Nudge.id == nudge_id))
        if user_id is None:
            return  # erased
        async with self._locks.hold(user_id):
            await self._deliver_one(job_id, nudge_id)

    async def _deliver_one(self, job_id: str, nudge_id: int) -> None:
        now = self._clock.now()
        async with self._db.session() as session:
            row = await session.get(Nudge, nudge_id)
            if row is None or row.status != PENDING:
                return  # already sent or dropped: firing twice is harmless
            user_id, kind, expiry = row.user_id, row.kind, row.expires_at
            planned_for = min(ensure_utc(row.deliver_at), now)
            message_key, params = row.message_key, dict(row.params or {})
            if expiry is not None and now >= expiry:
                await self._drop(nudge_id, kind, "expired")
                return
            if await self._opted_out(session, user_id):
                await self._drop(nudge_id, kind, "member opted out")
                return
            start, end = budget_week(self._policy, now)
            sent = await self._count_sent(session, user_id, start, end)

        allowed = next_allowed_moment(self._policy, now, sent)
        if allowed > now:
            # Budget used up meanwhile, or woken in quiet hours: wait for the next slot.
            if expiry is not None and allowed >= expiry:
                await self._drop(nudge_id, kind, "expires before the next allowed moment")
                return
            await self._postpone(job_id, nudge_id, kind, allowed)
            return

        # An exception here leaves the nudge pending and the scheduler retries the job.
        await self._deliver(nudge_id, user_id, message_key, params, planned_for)
        await self._set_pending(nudge_id, status=SENT, sent_at=self._clock.now())
        log.info("nudge %d (%s) delivered", nudge_id, kind)

    async def _postpone(self, job_id: str, nudge_id: int, kind: str, allowed: datetime) -> None:
        await self._set_pending(nudge_id, deliver_at=allowed)
        await self._scheduler.schedule_once(job_id, DELIVER_KIND, allowed, {"nudge_id": nudge_id})
        log.info("nudge %d (%s) postponed to %s", nudge_id, kind, allowed.isoformat())

    async def _drop(self, nudge_id: int, kind: str, reason: str) -> None:
        await self._set_pending(nudge_id, status=DROPPED)
        log.info("nudge %d (%s) dropped: %s", nudge_id, kind, reason)

    async def _set_pending(self, nudge_id: int, **values: Any) -> None:
        """Update the nudge if it is still pending (an erasure or opt-out may have won)."""
        async with self._db.transaction() as session:
            await session.execute(
                update(Nudge)
                .where(Nudge.id == nudge_id, Nudge.status == PENDING)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    async def _count_sent(self, session: AsyncSession, user_id: str, start: datetime, end: datetime) -> int:
        """Nudges the member was sent in the week (delivery checks the budget again)."""
        sent = await session.scalar(
            select(func.count())
            .select_from(Nudge)
            .where(
                Nudge.user_id == user_id,
                Nudge.status == SENT,
                Nudge.sent_at >= start,
                Nudge.sent_at < end,
            )
        )
        return int(sent or 0)

    async def _opted_out(self, session: AsyncSession, user_id: str) -> bool:
        opted_out = await session.scalar(select(Member.nudges_opt_out).where(Member.user_id == user_id))
        return bool(opted_out)
