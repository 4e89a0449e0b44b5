"""Non-urgent pings to members, kept within a weekly budget and out of quiet hours.

Every feature that wants to remind, invite or suggest something "some time soon"
goes through :class:`NudgeService` instead of sending directly, so a member who is
in three features still gets at most ``weekly_budget`` nudges a week, never in the
evening, at night or at the weekend, and none at all after opting out.

The timing rules are the pure function :func:`next_allowed_moment`; the service
plans nudges in batches (one is a batch of one, so the rules live in one place),
stores each as a ``core_nudges`` row and delivers it through the durable
scheduler (job ``nudges:deliver:<id>``). At delivery time the rules are checked
again, because the budget may have been used up, or the member may have opted
out, since the nudge was planned.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, ensure_utc
from bot.locks import KeyedLocks
from bot.scheduler import MissedPolicy, SchedulerService
from bot.storage.database import Database
from bot.storage.models import Member, Nudge, ScheduledJob

log = logging.getLogger(__name__)

DELIVER_KIND = "nudges:deliver"

PENDING = "pending"
SENT = "sent"
DROPPED = "dropped"

Deliver = Callable[[int, str, str, dict[str, Any], datetime], Awaitable[None]]
"""``deliver(nudge_id, user_id, message_key, params, planned_for)``: sends the nudge (a
DM, in the member's language); the id lets the sender derive a transaction id, so a retry
after a crash cannot send the same nudge twice. ``planned_for`` is the moment it was due:
nudges planned for one moment (a digest to thousands) are due together in the outbox,
which sends messages due together side by side, and those due one after the other in turn."""

PLAN_CHUNK = 500
"""Nudges planned per transaction by :meth:`NudgeService.nudge_many`."""

# Planning looks at most this many budget weeks ahead before it stops counting.
_MAX_WEEKS_AHEAD = 53
_MIDNIGHT = time(0, 0)


# ---------------------------------------------------------------------------
# The pure part
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NudgePolicy:
    """When nudges may reach members; quiet hours are local wall-clock times."""

    weekly_budget: int = 3
    quiet_start: time = time(20, 0)
    quiet_end: time = time(8, 0)
    quiet_weekends: bool = True
    timezone: str = "Europe/Amsterdam"

    def __post_init__(self) -> None:
        if self.weekly_budget < 1:
            raise ValueError("weekly_budget must be at least 1")
        if self.quiet_start.tzinfo is not None or self.quiet_end.tzinfo is not None:
            raise ValueError("quiet hours are local wall-clock times without a zone")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _in_quiet_hours(policy: NudgePolicy, wall: time) -> bool:
    start, end = policy.quiet_start, policy.quiet_end
    if start == end:
        return False  # no quiet hours
    if start < end:
        return start <= wall < end
    return wall >= start or wall < end  # spans midnight


def _wall_to_utc(day: date, wall: time, zone: ZoneInfo, after: datetime) -> datetime:
    """The first instant after ``after`` at which the local clock shows ``day wall``.

    Local times are built in the zone and converted, never computed by adding hours
    to UTC: that is what keeps 08:00 at 08:00 across a DST change. An ambiguous wall
    time (the repeated hour in October) has two instants, hence "first after".
    """
    candidates = sorted(
        datetime.combine(day, wall.replace(fold=fold), tzinfo=zone).astimezone(UTC) for fold in (0, 1)
    )
    for candidate in candidates:
        if candidate > after:
            return candidate
    return candidates[-1]


def is_quiet(policy: NudgePolicy, moment: datetime) -> bool:
    """True when ``moment`` falls in quiet hours or (if configured) the weekend."""
    local = ensure_utc(moment).astimezone(policy.zone)
    if policy.quiet_weekends and local.weekday() >= 5:
        return True
    return _in_quiet_hours(policy, local.time())


def budget_week(policy: NudgePolicy, moment: datetime) -> tuple[datetime, datetime]:
    """The calendar week (Monday 00:00 to Monday 00:00 local) holding ``moment``, in UTC.

    A week with a DST change is 167 or 169 hours long; that is why it is built from
    local dates.
    """
    zone = policy.zone
    local = ensure_utc(moment).astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    start = datetime.combine(monday, _MIDNIGHT, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(monday + timedelta(days=7), _MIDNIGHT, tzinfo=zone).astimezone(UTC)
    return start, end


def next_allowed_moment(policy: NudgePolicy, now: datetime, sent_this_week: int) -> datetime:
    """The earliest moment >= ``now`` at which a nudge may be delivered (aware UTC).

    Outside quiet hours, not at the weekend (if ``quiet_weekends``), and, when
    ``sent_this_week`` has reached the budget, not before next Monday 00:00 local
    (which quiet hours then push to Monday ``quiet_end``).
    """
    zone = policy.zone
    moment = ensure_utc(now)
    if sent_this_week >= policy.weekly_budget:
        moment = max(moment, budget_week(policy, moment)[1])
    # Each step moves strictly forward to the end of a quiet stretch; a handful of
    # steps always suffices (weekend -> Monday 00:00 -> Monday quiet_end).
    for _ in range(16):
        local = moment.astimezone(zone)
        if policy.quiet_weekends and local.weekday() >= 5:
            monday = local.date() + timedelta(days=7 - local.weekday())
            moment = _wall_to_utc(monday, _MIDNIGHT, zone, moment)
            continue
        wall = local.time()
        if _in_quiet_hours(policy, wall):
            end_day = local.date()
            if policy.quiet_start > policy.quiet_end and wall >= policy.quiet_start:
                end_day += timedelta(days=1)
            moment = _wall_to_utc(end_day, policy.quiet_end, zone, moment)
            continue
        return moment
    raise RuntimeError(f"no allowed moment found after {now.isoformat()} for {policy!r}")


# ---------------------------------------------------------------------------
# The service
# ---------------------------------------------------------------------------


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


def deliver_job_id(nudge_id: int) -> str:
    return f"{DELIVER_KIND}:{nudge_id}"


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
        self._deliver = deliver
        # Deliveries to one member run one at a time, so two nudges woken together
        # cannot both see "2 of 3 sent" and both go out.
        self._locks: KeyedLocks[str] = KeyedLocks()
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
        results: list[int | None] = []
        for start in range(0, len(requests), PLAN_CHUNK):
            results.extend(await self._plan_chunk(requests[start : start + PLAN_CHUNK]))
        return results

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
        async with self._db.session() as session:
            member = await session.get(Member, user_id)
            rows = (
                await session.scalars(
                    select(Nudge).where(Nudge.user_id == user_id).order_by(Nudge.created_at, Nudge.id)
                )
            ).all()
        return {
            "user_id": user_id,
            "nudges_opt_out": bool(member.nudges_opt_out) if member is not None else False,
            "nudges": [
                {
                    "id": row.id,
                    "kind": row.kind,
                    "message_key": row.message_key,
                    "params": dict(row.params or {}),
                    "status": row.status,
                    "created_at": row.created_at.isoformat(),
                    "deliver_at": row.deliver_at.isoformat(),
                    "sent_at": row.sent_at.isoformat() if row.sent_at else None,
                    "expires_at": row.expires_at.isoformat() if row.expires_at else None,
                }
                for row in rows
            ],
        }

    async def erase_member(self, user_id: str) -> int:
        """Delete every nudge of the member and cancel their deliveries; returns how many.

        The member row (language, opt-out) belongs to the core and is left alone.
        """
        async with self._db.transaction() as session:
            rows = (
                await session.execute(select(Nudge.id, Nudge.status).where(Nudge.user_id == user_id))
            ).all()
            await session.execute(
                delete(Nudge).where(Nudge.user_id == user_id).execution_options(synchronize_session=False)
            )
        # After the commit: a delivery woken in between finds no row and does nothing.
        for nudge_id, status in rows:
            if status == PENDING:
                await self._scheduler.cancel(deliver_job_id(nudge_id))
        return len(rows)

    async def forget_content(self, dedupe_prefix: str) -> int:
        """Empty the stored parameters of the nudges whose key starts with ``dedupe_prefix``
        (an erased member's question quoted in other members' invitations); the pending
        ones are dropped. Returns how many rows were touched.

        The rows stay, so the recipients' weekly budgets still count what they were sent.
        """
        matching = Nudge.dedupe_key.startswith(dedupe_prefix, autoescape=True)
        async with self._db.transaction() as session:
            rows = (await session.execute(select(Nudge.id, Nudge.status).where(matching))).all()
            if rows:
                await session.execute(
                    update(Nudge)
                    .where(Nudge.id.in_([nudge_id for nudge_id, _status in rows]))
                    .values(params={}, status=case((Nudge.status == PENDING, DROPPED), else_=Nudge.status))
                    .execution_options(synchronize_session=False)
                )
        for nudge_id, status in rows:
            if status == PENDING:
                await self._scheduler.cancel(deliver_job_id(nudge_id))
        return len(rows)

    # -- delivery ----------------------------------------------------------------

    async def _deliver_job(self, job_id: str, payload: dict[str, Any]) -> None:
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
            async with self._db.transaction() as session:
                await session.execute(
                    update(Nudge)
                    .where(Nudge.id == nudge_id, Nudge.status == PENDING)
                    .values(deliver_at=allowed)
                    .execution_options(synchronize_session=False)
                )
            await self._scheduler.schedule_once(job_id, DELIVER_KIND, allowed, {"nudge_id": nudge_id})
            log.info("nudge %d (%s) postponed to %s", nudge_id, kind, allowed.isoformat())
            return

        # An exception here leaves the nudge pending and the scheduler retries the job.
        await self._deliver(nudge_id, user_id, message_key, params, planned_for)
        async with self._db.transaction() as session:
            await session.execute(
                update(Nudge)
                .where(Nudge.id == nudge_id, Nudge.status == PENDING)
                .values(status=SENT, sent_at=self._clock.now())
                .execution_options(synchronize_session=False)
            )
        log.info("nudge %d (%s) delivered", nudge_id, kind)

    async def _drop(self, nudge_id: int, kind: str, reason: str) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                update(Nudge)
                .where(Nudge.id == nudge_id, Nudge.status == PENDING)
                .values(status=DROPPED)
                .execution_options(synchronize_session=False)
            )
        log.info("nudge %d (%s) dropped: %s", nudge_id, kind, reason)

    # -- planning ----------------------------------------------------------------

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
            expiry = ensure_utc(request.expires_at) if request.expires_at is not None else None
            status = PENDING
            if request.user_id in opted_out:
                status, deliver_at = DROPPED, base
            else:
                deliver_at = self._plan(ledger, request.user_id, base)
                if expiry is not None and deliver_at >= expiry:
                    status = DROPPED
                else:
                    week = budget_week(self._policy, deliver_at)[0]
                    ledger[(request.user_id, week)] = ledger.get((request.user_id, week), 0) + 1
            rows.append(
                Nudge(
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
            )
        return rows

    async def _ledger(
        self, session: AsyncSession, users: list[str], since: datetime
    ) -> dict[tuple[str, datetime], int]:
        """``(user, budget week start) -> nudges sent or planned`` from ``since`` on:
        the counts :meth:`_count_sent` gives, for many members in one read."""
        ledger: dict[tuple[str, datetime], int] = {}
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

    def _plan(self, ledger: dict[tuple[str, datetime], int], user_id: str, base: datetime) -> datetime:
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

    async def _count_sent(
        self,
        session: AsyncSession,
        user_id: str,
        start: datetime,
        end: datetime,
    ) -> int:
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

    async def _job_exists(self, job_id: str) -> bool:
        async with self._db.session() as session:
            found = await session.scalar(select(ScheduledJob.job_id).where(ScheduledJob.job_id == job_id))
        return found is not None
