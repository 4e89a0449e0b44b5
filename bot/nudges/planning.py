"""Planning nudges: each request gets its row and delivery moment, chunk by chunk.

The budget, quiet hours, opt-out and expiry are applied when a nudge is planned (and
again when it is delivered, see :mod:`bot.nudges.delivery`). Requests in one call
count against each other's budget, as if they came one by one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, ensure_utc
from bot.nudges.records import DELIVER_KIND, DROPPED, PENDING, SENT, deliver_job_id
from bot.nudges.timing import NudgePolicy, budget_week, next_allowed_moment
from bot.scheduler import SchedulerService
from bot.storage.database import Database
from bot.storage.models import Member, Nudge

log = logging.getLogger(__name__)

PLAN_CHUNK = 500
"""Nudges planned per transaction by :meth:`NudgeService.nudge_many`."""

# Planning looks at most this many budget weeks ahead before it stops counting.
_MAX_WEEKS_AHEAD = 53

Ledger = dict[tuple[str, datetime], int]
"""``(user, budget week start) -> nudges sent or planned`` in that week."""


@dataclass(frozen=True)
class NudgeRequest:
    """One nudge to plan; the arguments of :meth:`NudgeService.nudge`."""

    user_id: str
    kind: str
    message_key: str
    params: Mapping[str, Any]
    dedupe_key: str
    not_before: datetime | None = None
    expires_at: datetime | None = None


class NudgePlanner:
    """Stores planned nudges and their delivery jobs."""

    def __init__(self, db: Database, scheduler: SchedulerService, clock: Clock, policy: NudgePolicy) -> None:
        self._db = db
        self._scheduler = scheduler
        self._clock = clock
        self._policy = policy

    async def plan(self, requests: Sequence[NudgeRequest]) -> list[int | None]:
        """One id (or None for a used dedupe key) per request, in order; in chunks of
        ``PLAN_CHUNK``, each in one transaction (and one more for its delivery jobs)."""
        results: list[int | None] = []
        for start in range(0, len(requests), PLAN_CHUNK):
            results.extend(await self._plan_chunk(requests[start : start + PLAN_CHUNK]))
        return results

    async def _plan_chunk(self, requests: Sequence[NudgeRequest]) -> list[int | None]:
        now = self._clock.now()
        try:
            async with self._db.transaction() as session:
                rows = await self._plan_rows(session, requests, now)
                session.add_all([row for row in rows if row is not None])
                await session.flush()
                planned = [
                    None if row is None else (row.id, row.kind, row.status, row.deliver_at) for row in rows
                ]
        except IntegrityError:
            # A dedupe key inserted concurrently (PostgreSQL; SQLite's immediate
            # transaction serialises us): one by one, so only that request is refused.
            if len(requests) == 1:
                return [None]
            return [(await self._plan_chunk([request]))[0] for request in requests]
        jobs = [
            (deliver_job_id(nudge_id), DELIVER_KIND, deliver_at, {"nudge_id": nudge_id})
            for nudge_id, _, status, deliver_at in filter(None, planned)
            if status == PENDING
        ]
        if jobs:
            await self._scheduler.schedule_many(jobs)
        for nudge_id, kind, status, deliver_at in filter(None, planned):
            if status == PENDING:
                log.debug("nudge %d (%s) planned for %s", nudge_id, kind, deliver_at.isoformat())
            else:
                log.info("nudge %d (%s) dropped at creation (opted out or expires first)", nudge_id, kind)
        return [None if p is None else p[0] for p in planned]

    async def _plan_rows(
        self, session: AsyncSession, requests: Sequence[NudgeRequest], now: datetime
    ) -> list[Nudge | None]:
        """The rows to insert (None for a used dedupe key), with the budget, quiet
        hours, opt-out and expiry applied; reads each table once for the whole chunk."""
        keys = list({r.dedupe_key for r in requests})
        taken = set((await session.scalars(select(Nudge.dedupe_key).where(Nudge.dedupe_key.in_(keys)))).all())
        users = list({r.user_id for r in requests})
        opted_out = set(
            (
                await session.scalars(
                    select(Member.user_id).where(Member.user_id.in_(users), Member.nudges_opt_out.is_(True))
                )
            ).all()
        )
        bases = [max(now, ensure_utc(r.not_before)) if r.not_before is not None else now for r in requests]
        ledger = await self._ledger(session, users, budget_week(self._policy, min(bases))[0])
        rows: list[Nudge | None] = []
        for request, base in zip(requests, bases, strict=True):
            if request.dedupe_key in taken:
                rows.append(None)
                continue
            taken.add(request.dedupe_key)
            rows.append(self._row(request, base, now, ledger, request.user_id in opted_out))
        return rows

    def _row(
        self, request: NudgeRequest, base: datetime, now: datetime, ledger: Ledger, opted_out: bool
    ) -> Nudge:
        """The new row for one request; a planned one is counted in ``ledger``."""
        expiry = ensure_utc(request.expires_at) if request.expires_at is not None else None
        status = PENDING
        if opted_out:
            status, deliver_at = DROPPED, base
        else:
            deliver_at = self._moment(ledger, request.user_id, base)
            if expiry is not None and deliver_at >= expiry:
                status = DROPPED
            else:
                week = budget_week(self._policy, deliver_at)[0]
                ledger[(request.user_id, week)] = ledger.get((request.user_id, week), 0) + 1
        return Nudge(
            user_id=request.user_id,
            kind=request.kind,
            dedupe_key=request.dedupe_key,
            message_key=request.message_key,
            params=dict(request.params),
            created_at=now,
            deliver_at=deliver_at,
            status=status,
            sent_at=None,
            expires_at=expiry,
        )

    async def _ledger(self, session: AsyncSession, users: list[str], since: datetime) -> Ledger:
        """``(user, budget week start) -> nudges sent or planned`` from ``since`` on:
        the counts delivery checks one member at a time, for many members in one read."""
        ledger: Ledger = {}
        rows = await session.execute(
            select(Nudge.user_id, Nudge.status, Nudge.sent_at, Nudge.deliver_at).where(
                Nudge.user_id.in_(users),
                or_(
                    and_(Nudge.status == SENT, Nudge.sent_at >= since),
                    and_(Nudge.status == PENDING, Nudge.deliver_at >= since),
                ),
            )
        )
        for user_id, status, sent_at, deliver_at in rows.all():
            moment: datetime = sent_at if status == SENT and sent_at is not None else deliver_at
            week = budget_week(self._policy, moment)[0]
            ledger[(user_id, week)] = ledger.get((user_id, week), 0) + 1
        return ledger

    def _moment(self, ledger: Ledger, user_id: str, base: datetime) -> datetime:
        """The delivery moment for a new nudge: the first allowed moment in a week
        whose budget is not yet taken by sent or already planned nudges."""
        moment = base
        candidate = base
        for _ in range(_MAX_WEEKS_AHEAD):
            start, end = budget_week(self._policy, moment)
            candidate = next_allowed_moment(self._policy, moment, ledger.get((user_id, start), 0))
            if candidate < end:
                return candidate
            moment = candidate  # a later week: its own budget decides
        return candidate
