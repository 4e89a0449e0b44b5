"""Non-urgent pings to members, kept within a weekly budget and out of quiet hours.

Every feature that wants to remind, invite or suggest something "some time soon"
goes through :class:`NudgeService` instead of sending directly, so a member who is
in three features still gets at most ``weekly_budget`` nudges a week, never in the
evening, at night or at the weekend, and none at all after opting out.

The timing rules are the pure function :func:`~bot.nudges.timing.next_allowed_moment`;
the service plans nudges in batches (:mod:`bot.nudges.planning`; one is a batch of one,
so the rules live in one place), stores each as a ``core_nudges`` row and delivers it
through the durable scheduler (job ``nudges:deliver:<id>``, :mod:`bot.nudges.delivery`).
At delivery time the rules are checked again, because the budget may have been used
up, or the member may have opted out, since the nudge was planned.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from bot.clock import Clock
from bot.nudges.delivery import Deliver, NudgeDelivery
from bot.nudges.member_data import NudgeMemberData
from bot.nudges.planning import NudgePlanner, NudgeRequest
from bot.nudges.records import DELIVER_KIND, DROPPED, PENDING, deliver_job_id
from bot.nudges.timing import NudgePolicy
from bot.scheduler import SchedulerService
from bot.scheduler.policy import MissedPolicy
from bot.storage.database import Database
from bot.storage.models import Member, Nudge, ScheduledJob

log = logging.getLogger(__name__)


class NudgeService:
    """Plans, stores and delivers nudges; features call :meth:`nudge` (or, for many
    members at once, :meth:`nudge_many`) and nothing else.

    Call :meth:`restore` once before the scheduler starts: it re-creates delivery
    jobs for pending nudges whose job was never stored (a stop between the two
    writes of :meth:`nudge`).
    """

    def __init__(
        self,
        db: Database,
        scheduler: SchedulerService,
        clock: Clock,
        policy: NudgePolicy,
        deliver: Deliver,
    ) -> None:
        self._db = db
        self._scheduler = scheduler
        self._clock = clock
        self._policy = policy
        self._planner = NudgePlanner(db, scheduler, clock, policy)
        self._delivery = NudgeDelivery(db, scheduler, clock, policy, deliver)
        self._member_data = NudgeMemberData(db, scheduler)
        # A nudge that fell due while the bot was down is still worth sending; the
        # budget and quiet hours are checked again when it fires.
        scheduler.register(DELIVER_KIND, self._deliver_job, MissedPolicy.always())

    @property
    def policy(self) -> NudgePolicy:
        return self._policy

    async def nudge(
        self,
        user_id: str,
        kind: str,
        message_key: str,
        params: dict[str, Any],
        *,
        dedupe_key: str,
        not_before: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> int | None:
        """Plan a nudge; returns its id, or None when ``dedupe_key`` was used before.

        A member who opted out gets nothing: the nudge is stored as ``dropped``
        (still returning its id). So is a nudge that would expire before it can be
        delivered. A batch of one: the rules live in :meth:`nudge_many` only.
        """
        request = NudgeRequest(user_id, kind, message_key, params, dedupe_key, not_before, expires_at)
        return (await self.nudge_many([request]))[0]

    async def nudge_many(self, requests: Sequence[NudgeRequest]) -> list[int | None]:
        """Plan many nudges with the same rules as :meth:`nudge`; one id (or None) per
        request, in order.

        Requests are planned in chunks of ``PLAN_CHUNK``, each in one transaction (and
        one more for its delivery jobs): a weekly job for thousands of members costs a
        few dozen round trips instead of two per member, and memory stays bounded.
        Requests in one call count against each other's budget, and a dedupe key
        repeated in the same call plans one nudge, as if they came one by one.
        """
        return await self._planner.plan(requests)

    async def set_opt_out(self, user_id: str, opted_out: bool) -> None:
        """Record the member's choice; opting out also drops every pending nudge now."""
        now = self._clock.now()
        dropped: list[int] = []
        async with self._db.transaction() as session:
            member = await session.get(Member, user_id)
            if member is None:
                session.add(Member(user_id=user_id, language=None, nudges_opt_out=opted_out, first_seen=now))
            else:
                member.nudges_opt_out = opted_out
            if opted_out:
                dropped = list(
                    (
                        await session.scalars(
                            select(Nudge.id).where(Nudge.user_id == user_id, Nudge.status == PENDING)
                        )
                    ).all()
                )
                if dropped:
                    await session.execute(
                        update(Nudge)
                        .where(Nudge.id.in_(dropped), Nudge.status == PENDING)
                        .values(status=DROPPED)
                        .execution_options(synchronize_session=False)
                    )
        for nudge_id in dropped:
            await self._scheduler.cancel(deliver_job_id(nudge_id))

    async def pending_for(self, user_id: str) -> list[Nudge]:
        """The member's nudges still to be delivered, soonest first."""
        async with self._db.session() as session:
            rows = await session.scalars(
                select(Nudge)
                .where(Nudge.user_id == user_id, Nudge.status == PENDING)
                .order_by(Nudge.deliver_at, Nudge.id)
            )
            return list(rows.all())

    async def restore(self) -> int:
        """Make sure every pending nudge has a delivery job; returns how many were added."""
        async with self._db.session() as session:
            pending = (
                await session.execute(select(Nudge.id, Nudge.deliver_at).where(Nudge.status == PENDING))
            ).all()
        added = 0
        for nudge_id, deliver_at in pending:
            if not await self._job_exists(deliver_job_id(nudge_id)):
                await self._scheduler.schedule_once(
                    deliver_job_id(nudge_id),
                    DELIVER_KIND,
                    deliver_at,
                    {"nudge_id": nudge_id},
                    replace=False,
                )
                added += 1
        if added:
            log.warning("restored %d nudge delivery job(s) that were never stored", added)
        return added

    # -- privacy ---------------------------------------------------------------

    async def export_member(self, user_id: str) -> dict[str, Any]:
        """Everything this service keeps about the member, JSON-ready."""
        return await self._member_data.export_member(user_id)

    async def erase_member(self, user_id: str) -> int:
        """Delete every nudge of the member and cancel their deliveries; returns how many."""
        return await self._member_data.erase_member(user_id)

    async def forget_content(self, dedupe_prefix: str) -> int:
        """Empty the stored parameters of the nudges whose key starts with ``dedupe_prefix``;
        the pending ones are dropped. Returns how many rows were touched."""
        return await self._member_data.forget_content(dedupe_prefix)

    # -- delivery ----------------------------------------------------------------

    async def _deliver_job(self, job_id: str, payload: dict[str, Any]) -> None:
        await self._delivery.run_job(job_id, payload)

    async def _job_exists(self, job_id: str) -> bool:
        async with self._db.session() as session:
            found = await session.scalar(select(ScheduledJob.job_id).where(ScheduledJob.job_id == job_id))
        return found is not None
