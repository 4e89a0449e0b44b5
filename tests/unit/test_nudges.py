"""Nudges: a member hears from the bot at most three times a week, in office hours.

The pure timing rule is tested directly (including both DST weekends of 2027 and a
property test); the service is tested on a real SQLite file with a fake clock that
the tests move, calling the scheduler's ``run_due()`` as its wake-up.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from bot.clock import FakeClock
from bot.nudges import NudgeService
from bot.nudges.planning import NudgeRequest
from bot.nudges.records import DELIVER_KIND, deliver_job_id
from bot.nudges.timing import NudgePolicy, budget_week, is_quiet, next_allowed_moment
from bot.scheduler import SchedulerService
from bot.storage import Base
from bot.storage.database import Database
from bot.storage.models import Member, Nudge, ScheduledJob

pytestmark = pytest.mark.both_databases

AMS = ZoneInfo("Europe/Amsterdam")
POLICY = NudgePolicy()
ANNA = "@anna:kennisbrug.nl"
BOB = "@bob:kennisbrug.nl"


def local(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """An Amsterdam wall-clock moment, as aware UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=AMS).astimezone(UTC)


# Tuesday 2027-01-12, 11:00 in Amsterdam.
TUESDAY_11 = local(2027, 1, 12, 11, 0)
NEXT_MONDAY_8 = local(2027, 1, 18, 8, 0)


# -- the pure rule ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (local(2027, 1, 12, 11, 0), local(2027, 1, 12, 11, 0)),  # Tuesday morning: now
        (local(2027, 1, 12, 8, 0), local(2027, 1, 12, 8, 0)),  # quiet hours end at 08:00 sharp
        (local(2027, 1, 12, 19, 59), local(2027, 1, 12, 19, 59)),
        (local(2027, 1, 12, 20, 0), local(2027, 1, 13, 8, 0)),  # evening -> next morning
        (local(2027, 1, 12, 23, 30), local(2027, 1, 13, 8, 0)),
        (local(2027, 1, 13, 3, 0), local(2027, 1, 13, 8, 0)),  # night -> same morning
        (local(2027, 1, 15, 21, 0), local(2027, 1, 18, 8, 0)),  # Friday evening -> Monday
        (local(2027, 1, 16, 12, 0), local(2027, 1, 18, 8, 0)),  # Saturday noon -> Monday
        (local(2027, 1, 17, 23, 59), local(2027, 1, 18, 8, 0)),  # Sunday night -> Monday
    ],
)
def test_quiet_hours_and_weekends_push_to_the_next_working_morning(now: datetime, expected: datetime) -> None:
    assert next_allowed_moment(POLICY, now, 0) == expected


def test_budget_used_up_waits_for_monday_morning() -> None:
    assert next_allowed_moment(POLICY, TUESDAY_11, 2) == TUESDAY_11
    assert next_allowed_moment(POLICY, TUESDAY_11, 3) == NEXT_MONDAY_8
    assert next_allowed_moment(POLICY, local(2027, 1, 11, 8, 0), 5) == NEXT_MONDAY_8


def test_weekends_can_be_allowed() -> None:
    policy = NudgePolicy(quiet_weekends=False)
    saturday = local(2027, 1, 16, 12, 0)
    assert next_allowed_moment(policy, saturday, 0) == saturday
    assert next_allowed_moment(policy, local(2027, 1, 16, 22, 0), 0) == local(2027, 1, 17, 8, 0)


def test_spring_forward_week() -> None:
    # Clocks go forward on Sunday 2027-03-28: Friday night is CET, Monday CEST.
    assert next_allowed_moment(POLICY, local(2027, 3, 26, 21, 0), 0) == datetime(
        2027, 3, 29, 6, 0, tzinfo=UTC
    )
    assert next_allowed_moment(POLICY, local(2027, 3, 24, 10, 0), 3) == datetime(
        2027, 3, 29, 6, 0, tzinfo=UTC
    )
    weekend_ok = NudgePolicy(quiet_weekends=False)
    assert next_allowed_moment(weekend_ok, local(2027, 3, 27, 21, 0), 0) == datetime(
        2027, 3, 28, 6, 0, tzinfo=UTC
    )
    start, end = budget_week(POLICY, local(2027, 3, 25, 12, 0))
    assert (start, end) == (
        datetime(2027, 3, 21, 23, 0, tzinfo=UTC),
        datetime(2027, 3, 28, 22, 0, tzinfo=UTC),
    )
    assert end - start == timedelta(hours=167)


def test_fall_back_week() -> None:
    # Clocks go back on Sunday 2027-10-31: Friday night is CEST, Monday CET.
    assert next_allowed_moment(POLICY, local(2027, 10, 29, 21, 0), 0) == datetime(
        2027, 11, 1, 7, 0, tzinfo=UTC
    )
    assert next_allowed_moment(POLICY, local(2027, 10, 27, 10, 0), 3) == datetime(
        2027, 11, 1, 7, 0, tzinfo=UTC
    )
    weekend_ok = NudgePolicy(quiet_weekends=False)
    assert next_allowed_moment(weekend_ok, local(2027, 10, 30, 21, 0), 0) == datetime(
        2027, 10, 31, 7, 0, tzinfo=UTC
    )
    start, end = budget_week(POLICY, local(2027, 10, 28, 12, 0))
    assert end - start == timedelta(hours=169)


def test_policy_is_validated() -> None:
    with pytest.raises(ValueError):
        NudgePolicy(weekly_budget=0)
    with pytest.raises(ValueError):
        NudgePolicy(timezone="Nowhere/Special")


MOMENTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(now=MOMENTS, sent=st.integers(min_value=0, max_value=10))
def test_next_allowed_moment_is_never_early_quiet_or_at_the_weekend(now: datetime, sent: int) -> None:
    moment = next_allowed_moment(POLICY, now, sent)
    assert moment >= now
    wall = moment.astimezone(AMS)
    assert time(8, 0) <= wall.time() < time(20, 0)
    assert wall.weekday() < 5
    assert not is_quiet(POLICY, moment)
    assert moment - now < timedelta(days=10)
    if sent >= POLICY.weekly_budget:
        assert moment >= budget_week(POLICY, now)[1]
    elif not is_quiet(POLICY, now):
        assert moment == now  # nothing stands in the way: no needless delay


@settings(max_examples=200, deadline=None)
@given(
    now=MOMENTS,
    sent=st.integers(min_value=0, max_value=4),
    start=st.times(),
    end=st.times(),
    weekends=st.booleans(),
)
def test_next_allowed_moment_holds_for_any_quiet_hours(
    now: datetime, sent: int, start: time, end: time, weekends: bool
) -> None:
    policy = NudgePolicy(quiet_start=start, quiet_end=end, quiet_weekends=weekends)
    moment = next_allowed_moment(policy, now, sent)
    assert moment >= now
    assert not is_quiet(policy, moment)


# -- the service --------------------------------------------------------------------


class Outbox:
    """Stands in for the transport: records what reached which member."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.failures = 0

    async def __call__(
        self, nudge_id: int, user_id: str, message_key: str, params: dict[str, Any], planned_for: datetime
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("homeserver unreachable")
        self.sent.append((user_id, message_key, params))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(TUESDAY_11)


class Bot:
    """One running bot: its scheduler, its nudge service and what it delivered."""

    def __init__(self, db: Database, clock: FakeClock, outbox: Outbox | None = None) -> None:
        self.outbox = outbox or Outbox()
        self.scheduler = SchedulerService(db, clock, "Europe/Amsterdam")
        self.nudges = NudgeService(db, self.scheduler, clock, POLICY, self.outbox)


@pytest.fixture
def bot(db: Database, clock: FakeClock) -> Bot:
    return Bot(db, clock)


async def nudge_row(db: Database, nudge_id: int) -> Nudge:
    async with db.session() as session:
        row = await session.get(Nudge, nudge_id)
        assert row is not None
        return row


async def job_for(db: Database, nudge_id: int) -> ScheduledJob | None:
    async with db.session() as session:
        return await session.get(ScheduledJob, deliver_job_id(nudge_id))


async def send(bot: Bot, key: str, user: str = ANNA, **kwargs: Any) -> int | None:
    return await bot.nudges.nudge(
        user, "buddy", "buddy.nudge.checkin", {"buddy": "Bob"}, dedupe_key=key, **kwargs
    )


async def test_a_nudge_in_office_hours_is_delivered_once(db: Database, bot: Bot) -> None:
    nudge_id = await send(bot, "buddy:checkin:1")
    assert nudge_id is not None
    job = await job_for(db, nudge_id)
    assert job is not None and (job.kind, job.run_at) == (DELIVER_KIND, TUESDAY_11)

    assert await bot.scheduler.run_due() == 1
    assert await bot.scheduler.run_due() == 0
    await bot.nudges._deliver_job(deliver_job_id(nudge_id), {"nudge_id": nudge_id})  # a stray wake-up

    assert bot.outbox.sent == [(ANNA, "buddy.nudge.checkin", {"buddy": "Bob"})]
    row = await nudge_row(db, nudge_id)
    assert (row.status, row.sent_at) == ("sent", TUESDAY_11)


async def test_an_evening_nudge_waits_for_the_morning(db: Database, bot: Bot, clock: FakeClock) -> None:
    clock.set(local(2027, 1, 12, 21, 15))
    nudge_id = await send(bot, "buddy:checkin:evening")
    assert nudge_id is not None
    assert (await nudge_row(db, nudge_id)).deliver_at == local(2027, 1, 13, 8, 0)

    assert await bot.scheduler.run_due() == 0
    clock.set(local(2027, 1, 13, 8, 0))
    assert await bot.scheduler.run_due() == 1
    assert len(bot.outbox.sent) == 1


async def test_the_same_dedupe_key_plans_one_nudge(db: Database, bot: Bot) -> None:
    first = await send(bot, "events:invite:7")
    second = await send(bot, "events:invite:7")
    assert first is not None and second is None
    assert len(await bot.nudges.pending_for(ANNA)) == 1


async def test_the_fourth_nudge_of_a_week_waits_for_next_monday(db: Database, bot: Bot) -> None:
    ids = [await send(bot, f"k{n}") for n in range(4)]
    rows = [await nudge_row(db, i) for i in ids if i is not None]
    assert [r.deliver_at for r in rows] == [TUESDAY_11] * 3 + [NEXT_MONDAY_8]

    assert await bot.scheduler.run_due() == 3
    assert len(bot.outbox.sent) == 3
    # Another member has a budget of their own.
    assert (await nudge_row(db, await send(bot, "bob:1", user=BOB) or 0)).deliver_at == TUESDAY_11


async def test_not_before_is_respected(db: Database, bot: Bot) -> None:
    nudge_id = await send(bot, "later", not_before=local(2027, 1, 14, 10, 0))
    assert nudge_id is not None
    assert (await nudge_row(db, nudge_id)).deliver_at == local(2027, 1, 14, 10, 0)


async def test_an_opted_out_member_gets_nothing(db: Database, bot: Bot) -> None:
    await bot.nudges.set_opt_out(ANNA, True)
    nudge_id = await send(bot, "k1")
    assert nudge_id is not None
    assert (await nudge_row(db, nudge_id)).status == "dropped"
    assert await job_for(db, nudge_id) is None
    assert await bot.scheduler.run_due() == 0
    assert bot.outbox.sent == []

    await bot.nudges.set_opt_out(ANNA, False)
    assert (await nudge_row(db, await send(bot, "k2") or 0)).status == "pending"


async def test_opting_out_drops_what_was_planned(db: Database, bot: Bot, clock: FakeClock) -> None:
    nudge_id = await send(bot, "k1", not_before=local(2027, 1, 13, 10, 0))
    assert nudge_id is not None
    await bot.nudges.set_opt_out(ANNA, True)
    assert (await nudge_row(db, nudge_id)).status == "dropped"
    job = await job_for(db, nudge_id)
    assert job is not None and job.status == "cancelled"
    assert await bot.nudges.pending_for(ANNA) == []


async def test_an_opt_out_recorded_elsewhere_is_checked_at_delivery(
    db: Database, bot: Bot, clock: FakeClock
) -> None:
    nudge_id = await send(bot, "k1", not_before=local(2027, 1, 13, 10, 0))
    assert nudge_id is not None
    async with db.transaction() as session:  # e.g. the privacy feature wrote it directly
        session.add(Member(user_id=ANNA, language="nl", nudges_opt_out=True, first_seen=clock.now()))

    clock.set(local(2027, 1, 13, 10, 0))
    await bot.scheduler.run_due()
    assert bot.outbox.sent == []
    assert (await nudge_row(db, nudge_id)).status == "dropped"


async def test_budget_used_up_meanwhile_postpones_delivery(db: Database, bot: Bot, clock: FakeClock) -> None:
    nudge_id = await send(bot, "planned", not_before=local(2027, 1, 14, 10, 0))
    assert nudge_id is not None
    # Meanwhile, on Wednesday, three other nudges reached Anna.
    async with db.transaction() as session:
        for n in range(3):
            sent_at = local(2027, 1, 13, 9, n)
            session.add(
                Nudge(
                    user_id=ANNA,
                    kind="casus",
                    dedupe_key=f"casus:{n}",
                    message_key="casus.new",
                    params={},
                    created_at=sent_at,
                    deliver_at=sent_at,
                    status="sent",
                    sent_at=sent_at,
                )
            )

    clock.set(local(2027, 1, 14, 10, 0))
    assert await bot.scheduler.run_due() == 1  # woke up, decided to wait
    assert bot.outbox.sent == []
    row = await nudge_row(db, nudge_id)
    assert (row.status, row.deliver_at) == ("pending", NEXT_MONDAY_8)
    job = await job_for(db, nudge_id)
    assert job is not None and (job.status, job.run_at) == ("pending", NEXT_MONDAY_8)

    clock.set(NEXT_MONDAY_8)
    assert await bot.scheduler.run_due() == 1
    assert len(bot.outbox.sent) == 1
    assert (await nudge_row(db, nudge_id)).status == "sent"


async def test_expired_nudges_are_dropped(db: Database, bot: Bot, clock: FakeClock) -> None:
    clock.set(local(2027, 1, 12, 21, 0))
    # Would only go out tomorrow 08:00, but is stale by midnight: never planned.
    stale = await send(bot, "tonight", expires_at=local(2027, 1, 13, 0, 0))
    assert stale is not None and (await nudge_row(db, stale)).status == "dropped"

    fresh = await send(bot, "tomorrow", expires_at=local(2027, 1, 13, 12, 0))
    assert fresh is not None and (await nudge_row(db, fresh)).status == "pending"
    clock.set(local(2027, 1, 13, 13, 0))  # the bot was down all morning
    await bot.scheduler.run_due()
    assert bot.outbox.sent == []
    assert (await nudge_row(db, fresh)).status == "dropped"


async def test_a_failed_delivery_is_retried_and_sent_once(db: Database, clock: FakeClock) -> None:
    outbox = Outbox()
    outbox.failures = 1
    bot = Bot(db, clock, outbox)
    nudge_id = await send(bot, "k1")
    assert nudge_id is not None
    await bot.scheduler.run_due()
    assert (await nudge_row(db, nudge_id)).status == "pending"

    clock.advance(timedelta(minutes=1))
    await bot.scheduler.run_due()
    clock.advance(timedelta(minutes=5))
    await bot.scheduler.run_due()
    assert len(outbox.sent) == 1
    assert (await nudge_row(db, nudge_id)).status == "sent"


async def test_a_nudge_due_while_down_is_delivered_after_restart_within_the_rules(
    db: Database, bot: Bot, clock: FakeClock
) -> None:
    nudge_id = await send(bot, "k1", not_before=local(2027, 1, 15, 10, 0))  # Friday 10:00
    assert nudge_id is not None

    clock.set(local(2027, 1, 16, 11, 0))  # back up on Saturday: not at the weekend
    restarted = Bot(db, clock)
    await restarted.scheduler.start()
    try:
        assert restarted.outbox.sent == []
        assert (await nudge_row(db, nudge_id)).deliver_at == NEXT_MONDAY_8

        clock.set(NEXT_MONDAY_8)
        await restarted.scheduler.run_due()
        assert len(restarted.outbox.sent) == 1
    finally:
        await restarted.scheduler.shutdown()


async def test_restore_recreates_a_lost_delivery_job(db: Database, bot: Bot) -> None:
    nudge_id = await send(bot, "k1")
    assert nudge_id is not None
    async with db.transaction() as session:  # a stop between the nudge row and its job
        await session.execute(delete(ScheduledJob).where(ScheduledJob.job_id == deliver_job_id(nudge_id)))
    assert await bot.nudges.restore() == 1
    assert await bot.nudges.restore() == 0
    await bot.scheduler.run_due()
    assert len(bot.outbox.sent) == 1


async def test_export_and_erase_a_member(db: Database, bot: Bot, clock: FakeClock) -> None:
    await send(bot, "k1")
    await bot.scheduler.run_due()
    planned = await send(bot, "k2", not_before=local(2027, 1, 13, 9, 0))
    assert planned is not None
    await send(bot, "b1", user=BOB)

    export = await bot.nudges.export_member(ANNA)
    assert export["user_id"] == ANNA and export["nudges_opt_out"] is False
    assert [(n["status"], n["message_key"]) for n in export["nudges"]] == [
        ("sent", "buddy.nudge.checkin"),
        ("pending", "buddy.nudge.checkin"),
    ]

    assert await bot.nudges.erase_member(ANNA) == 2
    assert (await bot.nudges.export_member(ANNA))["nudges"] == []
    job = await job_for(db, planned)
    assert job is not None and job.status == "cancelled"
    async with db.session() as session:
        remaining = (await session.scalars(select(Nudge.user_id))).all()
    assert remaining == [BOB]


async def test_quoted_content_is_forgotten_by_key_prefix(db: Database, bot: Bot) -> None:
    """An erased asker's question, quoted in other members' invitations, leaves them;
    the rows stay so the recipients' budgets still count what they were sent."""
    sent = await send(bot, "questions:invite:7:" + ANNA)
    await bot.scheduler.run_due()
    planned = await send(bot, "questions:invite:7:" + BOB, not_before=local(2027, 1, 13, 9, 0))
    other = await send(bot, "questions:invite:70:" + BOB)  # question 70 is someone else's
    like = await send(bot, "questions:invite:7_" + BOB)  # "_" is no wildcard
    assert None not in (sent, planned, other, like)

    assert await bot.nudges.forget_content("questions:invite:7:") == 2

    rows = {n: await nudge_row(db, n) for n in (sent, planned, other, like) if n is not None}
    assert [(rows[n].status, rows[n].params) for n in (sent, planned)] == [("sent", {}), ("dropped", {})]
    assert rows[other].params == {"buddy": "Bob"} and rows[like].params == {"buddy": "Bob"}
    job = await job_for(db, planned) if planned is not None else None
    assert job is not None and job.status == "cancelled"


# -- many at once: the same rules as one by one -------------------------------------


async def sent_earlier(db: Database, user: str, count: int, at: datetime) -> None:
    """``count`` nudges that already reached ``user`` at ``at``."""
    async with db.transaction() as session:
        for n in range(count):
            session.add(
                Nudge(
                    user_id=user,
                    kind="casus",
                    dedupe_key=f"earlier:{user}:{n}",
                    message_key="casus.new",
                    params={},
                    created_at=at,
                    deliver_at=at,
                    status="sent",
                    sent_at=at,
                )
            )


def request(key: str, user: str = ANNA, **kwargs: Any) -> NudgeRequest:
    return NudgeRequest(user, "digest", "digest.message", {"n": key}, key, **kwargs)


async def plan(bot: Bot, requests: list[NudgeRequest], batched: bool) -> list[int | None]:
    if batched:
        return await bot.nudges.nudge_many(requests)
    return [
        await bot.nudges.nudge(
            r.user_id,
            r.kind,
            r.message_key,
            dict(r.params),
            dedupe_key=r.dedupe_key,
            not_before=r.not_before,
            expires_at=r.expires_at,
        )
        for r in requests
    ]


async def outcome(db: Database, ids: list[int | None]) -> list[tuple[str, datetime] | None]:
    """What became of each request: refused (None), or its status and delivery moment."""
    result: list[tuple[str, datetime] | None] = []
    for nudge_id in ids:
        if nudge_id is None:
            result.append(None)
        else:
            row = await nudge_row(db, nudge_id)
            result.append((row.status, row.deliver_at))
    return result


# Tuesday 2027-01-12, 21:15: quiet hours, so nudges wait for Wednesday 08:00.
EVENING = local(2027, 1, 12, 21, 15)
WEDNESDAY_8 = local(2027, 1, 13, 8, 0)
CAROL = "@carol:kennisbrug.nl"


@pytest.mark.parametrize("batched", [False, True], ids=["one by one", "batch"])
async def test_a_batch_follows_budget_quiet_hours_opt_out_and_keys_like_single_nudges(
    db: Database, bot: Bot, clock: FakeClock, batched: bool
) -> None:
    clock.set(EVENING)
    await sent_earlier(db, BOB, 2, local(2027, 1, 11, 9, 0))  # Bob has one left this week
    await bot.nudges.set_opt_out(CAROL, True)
    assert await bot.nudges.nudge(ANNA, "digest", "digest.message", {}, dedupe_key="used") is not None

    ids = await plan(
        bot,
        [
            request("used"),  # a key used before: refused
            request("a1"),
            request("a2"),
            request("a1"),  # the same key twice in one call: refused the second time
            request("a3"),  # Anna's fourth this week (with "used"): next Monday
            request("a4"),  # her fifth: next Monday too (a week's budget is 3)
            request("b1", BOB),  # Bob's third
            request("b2", BOB),  # Bob's fourth: next Monday
            request("c1", CAROL),  # opted out: stored as dropped
            request("b3", BOB, expires_at=local(2027, 1, 15, 12, 0)),  # can't go before it expires
            request("a5", not_before=local(2027, 1, 19, 10, 0)),  # her third next week: fits
        ],
        batched,
    )
    assert await outcome(db, ids) == [
        None,
        ("pending", WEDNESDAY_8),
        ("pending", WEDNESDAY_8),
        None,
        ("pending", NEXT_MONDAY_8),
        ("pending", NEXT_MONDAY_8),
        ("pending", WEDNESDAY_8),
        ("pending", NEXT_MONDAY_8),
        ("dropped", EVENING),
        ("dropped", NEXT_MONDAY_8),
        ("pending", local(2027, 1, 19, 10, 0)),
    ]
    # Every pending nudge has its delivery job, at its moment; dropped ones have none.
    for nudge_id, found in zip(ids, await outcome(db, ids), strict=True):
        if nudge_id is None or found is None:
            continue
        job = await job_for(db, nudge_id)
        if found[0] == "pending":
            assert job is not None and (job.kind, job.run_at) == (DELIVER_KIND, found[1])
        else:
            assert job is None


async def test_batch_and_single_nudges_plan_the_same_for_a_mixed_week(
    tmp_path: Any, clock: FakeClock
) -> None:
    """The same stream of requests, planned one by one in one database and in chunks in
    another, gives the same statuses and moments (chunks smaller than the stream, so
    one chunk's plans count against the next)."""
    users = [f"@m{n}:kennisbrug.nl" for n in range(5)]
    requests = [
        request(f"k{n % 17}", users[n % 5], not_before=TUESDAY_11 + timedelta(hours=7 * (n % 4)))
        for n in range(40)
    ]
    results = []
    for batched in (False, True):
        database = Database(f"sqlite+aiosqlite:///{tmp_path / f'{batched}.db'}")
        async with database.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        try:
            bot = Bot(database, FakeClock(TUESDAY_11))
            await bot.nudges.set_opt_out(users[4], True)
            await sent_earlier(database, users[0], 3, local(2027, 1, 11, 9, 0))
            if batched:
                with patch("bot.nudges.planning.PLAN_CHUNK", 7):
                    ids = await bot.nudges.nudge_many(requests)
            else:
                ids = await plan(bot, requests, batched=False)
            results.append(await outcome(database, ids))
        finally:
            await database.dispose()
    assert results[0] == results[1]
    assert sum(1 for r in results[0] if r is None) == 40 - 17


async def test_a_batch_is_delivered_within_the_budget(db: Database, bot: Bot) -> None:
    ids = await bot.nudges.nudge_many([request(f"k{n}") for n in range(5)])
    assert all(i is not None for i in ids)
    assert await bot.scheduler.run_due() == 3
    assert len(bot.outbox.sent) == 3
    assert await bot.nudges.nudge_many([]) == []
