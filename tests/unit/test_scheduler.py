"""The durable scheduler: rows are the truth, nothing due is dropped without a trace.

Fake-clock tests live in 2027, after the real clock, so the real APScheduler never
wakes their jobs by itself; they move the clock and call ``run_due()`` or
``start()`` a new service, the way a restart would.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select, update

from bot.clock import FakeClock, SystemClock
from bot.scheduler import SchedulerService
from bot.scheduler.cron import cron_trigger, next_fire_times
from bot.scheduler.job_rows import MAX_ATTEMPTS
from bot.scheduler.policy import MissedPolicy
from bot.storage.database import Database
from bot.storage.models import RecurringJob, ScheduledJob

pytestmark = pytest.mark.both_databases

AMS = ZoneInfo("Europe/Amsterdam")
# Tuesday 2027-01-12, 11:00 in Amsterdam.
BASE = datetime(2027, 1, 12, 10, 0, tzinfo=UTC)


class Recorder:
    """A job handler that remembers every call, optionally failing or dawdling."""

    def __init__(self, *, fail: int = 0, delay: float = 0.0) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail
        self.delay = delay
        self.fired = asyncio.Event()

    async def __call__(self, job_id: str, payload: dict[str, Any]) -> None:
        self.calls.append((job_id, payload))
        if self.delay:
            await asyncio.sleep(self.delay)
        if len(self.calls) <= self.fail:
            raise RuntimeError("contains member data that must not reach the note")
        self.fired.set()

    @property
    def ids(self) -> list[str]:
        return [job_id for job_id, _ in self.calls]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(BASE)


def make_service(
    db: Database,
    clock: Any,
    handler: Recorder,
    policy: MissedPolicy | None = None,
    kind: str = "events:remind",
) -> SchedulerService:
    service = SchedulerService(db, clock, "Europe/Amsterdam")
    if policy is None:
        service.register(kind, handler)
    else:
        service.register(kind, handler, policy)
    return service


async def job_row(db: Database, job_id: str) -> ScheduledJob:
    async with db.session() as session:
        row = await session.get(ScheduledJob, job_id)
        assert row is not None
        return row


# -- one-off jobs -----------------------------------------------------------------


async def test_a_scheduled_reminder_is_a_pending_row_under_its_own_id(db: Database, clock: FakeClock) -> None:
    service = make_service(db, clock, Recorder())
    await service.schedule_once(
        "events:remind:12:24h", "events:remind", BASE + timedelta(hours=1), {"event": 12}
    )

    row = await job_row(db, "events:remind:12:24h")
    assert (row.status, row.kind, row.payload, row.attempts) == ("pending", "events:remind", {"event": 12}, 0)
    assert row.run_at == BASE + timedelta(hours=1)
    assert (await service.stats())["pending"] == 1


async def test_naive_run_at_is_refused(db: Database, clock: FakeClock) -> None:
    service = make_service(db, clock, Recorder())
    with pytest.raises(ValueError, match="naive"):
        await service.schedule_once("x", "events:remind", datetime(2027, 1, 12, 12, 0))


async def test_rescheduling_the_same_id_replaces_unless_told_not_to(db: Database, clock: FakeClock) -> None:
    handler = Recorder()
    service = make_service(db, clock, handler)
    job = "events:remind:12:24h"
    await service.schedule_once(job, "events:remind", BASE + timedelta(hours=1), {"v": 1})
    await service.schedule_once(job, "events:remind", BASE + timedelta(hours=3), {"v": 2}, replace=False)
    assert (await job_row(db, job)).run_at == BASE + timedelta(hours=1)

    await service.schedule_once(job, "events:remind", BASE + timedelta(hours=2), {"v": 3})
    row = await job_row(db, job)
    assert (row.run_at, row.payload) == (BASE + timedelta(hours=2), {"v": 3})

    clock.advance(timedelta(hours=1))
    assert await service.run_due() == 0  # the old time no longer counts
    clock.advance(timedelta(hours=1))
    assert await service.run_due() == 1
    assert handler.calls == [(job, {"v": 3})]
    async with db.session() as session:
        assert len((await session.scalars(select(ScheduledJob))).all()) == 1


async def test_replacing_a_done_job_makes_it_run_again(db: Database, clock: FakeClock) -> None:
    handler = Recorder()
    service = make_service(db, clock, handler)
    await service.schedule_once("events:remind:5:1h", "events:remind", BASE)
    assert await service.run_due() == 1
    # The event moved: the reminder is wanted again at the new time.
    await service.schedule_once("events:remind:5:1h", "events:remind", BASE + timedelta(days=1))
    clock.advance(timedelta(days=1))
    assert await service.run_due() == 1
    assert len(handler.calls) == 2


async def test_due_jobs_run_in_order_and_future_ones_wait(db: Database, clock: FakeClock) -> None:
    handler = Recorder()
    service = make_service(db, clock, handler)
    await service.schedule_once("b", "events:remind", BASE + timedelta(minutes=20))
    await service.schedule_once("a", "events:remind", BASE + timedelta(minutes=10))
    await service.schedule_once("c", "events:remind", BASE + timedelta(hours=5))

    clock.advance(timedelta(minutes=30))
    assert await service.run_due() == 2
    assert handler.ids == ["a", "b"]
    assert (await job_row(db, "a")).status == "done"
    assert (await job_row(db, "a")).finished_at == clock.now()
    assert (await job_row(db, "c")).status == "pending"


async def test_two_racing_runs_fire_a_job_exactly_once(db: Database, clock: FakeClock) -> None:
    handler = Recorder(delay=0.05)
    service = make_service(db, clock, handler)
    for n in range(3):
        await service.schedule_once(f"job:{n}", "events:remind", BASE)

    first, second = await asyncio.gather(service.run_due(), service.run_due())

    assert first + second == 3
    assert sorted(handler.ids) == ["job:0", "job:1", "job:2"]
    assert {(await job_row(db, f"job:{n}")).attempts for n in range(3)} == {1}


async def test_firing_a_finished_job_again_does_nothing(db: Database, clock: FakeClock) -> None:
    handler = Recorder()
    service = make_service(db, clock, handler)
    await service.schedule_once("once", "events:remind", BASE)
    assert await service._fire("once") is True
    assert await service._fire("once") is False
    assert await service._fire("no-such-job") is False
    assert len(handler.calls) == 1


async def test_cancelled_job_never_runs(db: Database, clock: FakeClock) -> None:
    handler = Recorder()
    service = make_service(db, clock, handler)
    await service.schedule_once("events:remind:9:24h", "events:remind", BASE + timedelta(minutes=5))
    assert await service.cancel("events:remind:9:24h") is True
    assert await service.cancel("events:remind:9:24h") is False
    clock.advance(timedelta(hours=1))
    assert await service.run_due() == 0
    assert (await job_row(db, "events:remind:9:24h")).status == "cancelled"
    assert handler.calls == []


def test_registering_a_kind_twice_is_an_error(db: Database, clock: FakeClock) -> None:
    service = make_service(db, clock, Recorder())
    with pytest.raises(ValueError, match="already registered"):
        service.register("events:remind", Recorder())


async def test_registering_after_start_is_an_error(db: Database, clock: FakeClock) -> None:
    service = make_service(db, clock, Recorder())
    await service.start()
    try:
        with pytest.raises(RuntimeError, match="before the scheduler starts"):
            service.register("late:kind", Recorder())
    finally:
        await service.shutdown()


# -- late jobs and the missed policy ----------------------------------------------


async def test_overdue_job_runs_late_within_policy_and_is_recorded_missed_beyond(
    db: Database, clock: FakeClock
) -> None:
    handler = Recorder()
    service = make_service(db, clock, handler, MissedPolicy.within(timedelta(hours=1)))
    await service.schedule_once("recent", "events:remind", BASE - timedelta(minutes=30))
    await service.schedule_once("stale", "events:remind", BASE - timedelta(hours=2))

    assert await service.run_due() == 1

    assert handler.ids == ["recent"]
    stale = await job_row(db, "stale")
    assert stale.status == "missed"
    assert stale.note is not None and "overdue by 2:00:00" in stale.note
    assert stale.finished_at == BASE
    stats = await service.stats()
    assert (stats["done"], stats["missed"], stats["pending"]) == (1, 1, 0)


async def test_policy_constructors(db: Database, clock: FakeClock) -> None:
    assert MissedPolicy.always().allows(timedelta(days=365))
    assert MissedPolicy.within(timedelta(hours=6)).allows(timedelta(hours=6))
    assert not MissedPolicy.within(timedelta(hours=6)).allows(timedelta(hours=6, seconds=1))
    assert MissedPolicy.never().allows(timedelta(seconds=30))
    assert not MissedPolicy.never().allows(timedelta(minutes=5))
    with pytest.raises(ValueError):
        MissedPolicy.within(timedelta(seconds=-1))


async def test_always_policy_runs_a_month_late(db: Database, clock: FakeClock) -> None:
    handler = Recorder()
    service = make_service(db, clock, handler, MissedPolicy.always())
    await service.schedule_once("old", "events:remind", BASE - timedelta(days=30))
    assert await service.run_due() == 1
    assert handler.ids == ["old"]


# -- restarts -----------------------------------------------------------------------


async def test_restart_settles_what_fell_due_while_down(db: Database, clock: FakeClock) -> None:
    first = make_service(db, clock, Recorder())
    await first.start()
    await first.schedule_once("soon", "events:remind", BASE + timedelta(hours=1))
    await first.schedule_once("later", "events:remind", BASE + timedelta(hours=2))
    await first.schedule_once("long-ago", "events:remind", BASE + timedelta(minutes=1))
    await first.schedule_once("tomorrow", "events:remind", BASE + timedelta(days=1))
    await first.schedule_once("orphan", "disabled:feature", BASE + timedelta(hours=1))
    await first.shutdown()

    # Down for 7 hours: "long-ago" is beyond the default 6 h, the others are not.
    clock.advance(timedelta(hours=7))
    handler = Recorder()
    second = make_service(db, clock, handler)
    await second.start()
    try:
        assert handler.ids == ["soon", "later"]
        assert (await job_row(db, "long-ago")).status == "missed"
        assert (await job_row(db, "tomorrow")).status == "pending"
        assert (await job_row(db, "orphan")).status == "pending"  # feature disabled: kept
        assert second.pending_count() == 1  # "tomorrow" is armed, the orphan is not

        clock.set(BASE + timedelta(days=1))
        assert await second.run_due() == 1
        assert handler.ids[-1] == "tomorrow"
    finally:
        await second.shutdown()


async def test_job_interrupted_mid_run_runs_again_after_restart(db: Database, clock: FakeClock) -> None:
    first = make_service(db, clock, Recorder())
    await first.schedule_once("events:remind:3:24h", "events:remind", BASE)
    async with db.transaction() as session:  # what a crash mid-handler leaves behind
        await session.execute(
            update(ScheduledJob)
            .where(ScheduledJob.job_id == "events:remind:3:24h")
            .values(status="running", attempts=1)
        )

    clock.advance(timedelta(minutes=2))
    handler = Recorder()
    second = make_service(db, clock, handler)
    await second.start()
    try:
        assert handler.ids == ["events:remind:3:24h"]
        row = await job_row(db, "events:remind:3:24h")
        assert (row.status, row.attempts) == ("done", 2)
    finally:
        await second.shutdown()


async def test_job_interrupted_on_its_last_attempt_is_not_run_again(db: Database, clock: FakeClock) -> None:
    first = make_service(db, clock, Recorder())
    await first.schedule_once("poison", "events:remind", BASE)
    async with db.transaction() as session:
        await session.execute(
            update(ScheduledJob)
            .where(ScheduledJob.job_id == "poison")
            .values(status="running", attempts=MAX_ATTEMPTS)
        )

    handler = Recorder()
    second = make_service(db, clock, handler)
    await second.start()
    await second.shutdown()
    assert handler.calls == []
    row = await job_row(db, "poison")
    assert (row.status, row.note) == ("failed", "interrupted")


async def test_failing_job_is_retried_with_backoff_then_marked_failed(db: Database, clock: FakeClock) -> None:
    handler = Recorder(fail=MAX_ATTEMPTS)
    service = make_service(db, clock, handler)
    await service.schedule_once("flaky", "events:remind", BASE)

    assert await service.run_due() == 1
    row = await job_row(db, "flaky")
    assert (row.status, row.attempts, row.run_at) == ("pending", 1, BASE + timedelta(minutes=1))
    assert row.note == "attempt 1 failed: RuntimeError"

    assert await service.run_due() == 0  # not yet time for the retry
    clock.advance(timedelta(minutes=1))
    assert await service.run_due() == 1
    row = await job_row(db, "flaky")
    assert (row.status, row.attempts, row.run_at) == ("pending", 2, clock.now() + timedelta(minutes=2))

    clock.advance(timedelta(minutes=2))
    assert await service.run_due() == 1
    row = await job_row(db, "flaky")
    assert (row.status, row.attempts, row.note) == ("failed", 3, "RuntimeError")
    assert len(handler.calls) == 3

    clock.advance(timedelta(hours=1))
    assert await service.run_due() == 0


async def test_a_retry_that_succeeds_ends_done(db: Database, clock: FakeClock) -> None:
    handler = Recorder(fail=1)
    service = make_service(db, clock, handler)
    await service.schedule_once("flaky", "events:remind", BASE)
    await service.run_due()
    clock.advance(timedelta(minutes=1))
    await service.run_due()
    row = await job_row(db, "flaky")
    assert (row.status, row.attempts, row.note) == ("done", 2, None)


# -- cron ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("61 * * * *", "invalid cron expression '61 \\* \\* \\* \\*'"),
        ("* * *", "expected 5 fields"),
        ("0 9 * * 8", "day of week 8"),
        ("0 9 * * blursday", "unknown day of week"),
        ("0 9 1 * 1", "both day-of-month and day-of-week"),
        ("0 0 30 2 *", "never fires"),
    ],
)
async def test_invalid_cron_expressions_are_refused_clearly(
    db: Database, clock: FakeClock, cron: str, message: str
) -> None:
    service = make_service(db, clock, Recorder())
    with pytest.raises(ValueError, match=message):
        await service.schedule_cron("digest:weekly", "events:remind", cron)


async def test_unknown_time_zone_is_refused(db: Database, clock: FakeClock) -> None:
    service = make_service(db, clock, Recorder())
    with pytest.raises(ValueError, match="unknown time zone"):
        await service.schedule_cron("digest:weekly", "events:remind", "0 9 * * 1", timezone="Mars/Olympus")


def test_weekly_cron_keeps_local_time_across_spring_dst_change() -> None:
    # Tuesdays at 09:30 in Amsterdam; clocks go forward on Sunday 2027-03-28.
    fires = next_fire_times("30 9 * * 2", "Europe/Amsterdam", datetime(2027, 3, 17, tzinfo=UTC), 3)
    assert fires == [
        datetime(2027, 3, 23, 8, 30, tzinfo=UTC),  # CET, UTC+1
        datetime(2027, 3, 30, 7, 30, tzinfo=UTC),  # CEST, UTC+2
        datetime(2027, 4, 6, 7, 30, tzinfo=UTC),
    ]
    assert all(f.astimezone(AMS).strftime("%a %H:%M") == "Tue 09:30" for f in fires)


def test_weekly_cron_keeps_local_time_across_autumn_dst_change() -> None:
    # Clocks go back on Sunday 2027-10-31.
    fires = next_fire_times("30 9 * * 2", "Europe/Amsterdam", datetime(2027, 10, 20, tzinfo=UTC), 2)
    assert fires == [
        datetime(2027, 10, 26, 7, 30, tzinfo=UTC),  # CEST
        datetime(2027, 11, 2, 8, 30, tzinfo=UTC),  # CET
    ]
    assert all(f.astimezone(AMS).strftime("%a %H:%M") == "Tue 09:30" for f in fires)


def test_daily_cron_over_the_dst_weekends() -> None:
    spring = next_fire_times("0 8 * * *", "Europe/Amsterdam", datetime(2027, 3, 26, 12, tzinfo=UTC), 3)
    assert [f.hour for f in spring] == [7, 6, 6]  # Sat CET, Sun and Mon CEST
    autumn = next_fire_times("0 8 * * *", "Europe/Amsterdam", datetime(2027, 10, 29, 12, tzinfo=UTC), 3)
    assert [f.hour for f in autumn] == [6, 7, 7]


def test_crontab_weekday_numbers_mean_what_crontab_says() -> None:
    # APScheduler 3's own from_crontab counts Monday as 0 and would pick Wednesday.
    raw = CronTrigger.from_crontab("30 9 * * 2", timezone=AMS)
    assert raw.get_next_fire_time(None, datetime(2027, 3, 22, tzinfo=UTC)).strftime("%a") == "Wed"

    def weekdays(cron: str) -> list[str]:
        after = datetime(2027, 3, 21, tzinfo=UTC)  # a Sunday, 01:00 local
        return [f.astimezone(AMS).strftime("%a") for f in next_fire_times(cron, "Europe/Amsterdam", after, 7)]

    assert weekdays("0 9 * * 0") == ["Sun"] * 7
    assert weekdays("0 9 * * 7") == ["Sun"] * 7
    assert weekdays("0 9 * * 1-5")[:5] == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    assert set(weekdays("0 9 * * sat,SUN")) == {"Sat", "Sun"}
    assert set(weekdays("0 9 * * */2")) == {"Sun", "Tue", "Thu", "Sat"}
    assert len(set(weekdays("0 9 * * 0-6"))) == 7
    assert cron_trigger("0 9 * * 1-7", "Europe/Amsterdam") is not None
    assert cron_trigger("0 9 1 * 0-6", "Europe/Amsterdam") is not None  # every weekday = unrestricted


async def test_recurring_job_missed_while_down_runs_once_not_in_a_burst(
    db: Database, clock: FakeClock
) -> None:
    first = make_service(db, clock, Recorder(), kind="digest:daily")
    await first.schedule_cron("digest:daily", "digest:daily", "0 9 * * *", {"room": "general"})

    # Down from Tuesday 11:00 until Friday 11:00 local: Wed, Thu and Fri 09:00 were missed.
    clock.advance(timedelta(days=3))
    handler = Recorder()
    second = make_service(db, clock, handler, kind="digest:daily")
    await second.start()
    try:
        # The newest missed occurrence, and only it; the handler learns which one it is.
        assert handler.calls == [("digest:daily", {"room": "general", "occurrence": "2027-01-15T08:00:00+00:00"})]
        async with db.session() as session:
            row = await session.get(RecurringJob, "digest:daily")
            assert row is not None
            assert row.last_fire == datetime(2027, 1, 15, 8, 0, tzinfo=UTC)  # Friday 09:00 local
        assert second.pending_count() == 1
    finally:
        await second.shutdown()

    # A second restart the same morning owes nothing: that occurrence was run.
    third_handler = Recorder()
    third = make_service(db, clock, third_handler, kind="digest:daily")
    await third.start()
    await third.shutdown()
    assert third_handler.calls == []


async def test_recurring_occurrence_too_late_is_recorded_not_run(db: Database, clock: FakeClock) -> None:
    first = make_service(db, clock, Recorder(), kind="digest:daily")
    await first.schedule_cron("digest:daily", "digest:daily", "0 9 * * *")

    clock.advance(timedelta(days=3, hours=10))  # Friday 21:00 local: 12 h after 09:00
    handler = Recorder()
    second = make_service(db, clock, handler, kind="digest:daily")
    await second.start()
    await second.shutdown()
    assert handler.calls == []
    async with db.session() as session:
        row = await session.get(RecurringJob, "digest:daily")
        assert row is not None and row.last_fire == datetime(2027, 1, 15, 8, 0, tzinfo=UTC)


async def test_cancelling_a_recurring_job_deletes_it(db: Database, clock: FakeClock) -> None:
    service = make_service(db, clock, Recorder(), kind="digest:daily")
    await service.start()
    try:
        await service.schedule_cron("digest:daily", "digest:daily", "0 9 * * *")
        assert service.pending_count() == 1
        assert (await service.stats())["recurring"] == 1
        assert await service.cancel("digest:daily") is True
        assert service.pending_count() == 0
        assert (await service.stats())["recurring"] == 0
    finally:
        await service.shutdown()


# -- the real APScheduler -------------------------------------------------------------


async def test_armed_job_fires_on_time_with_the_real_clock(db: Database) -> None:
    handler = Recorder()
    service = make_service(db, SystemClock(), handler)
    await service.start()
    try:
        run_at = datetime.now(UTC) + timedelta(seconds=0.5)
        await service.schedule_once("events:remind:1:now", "events:remind", run_at, {"event": 1})
        assert service.pending_count() == 1
        await asyncio.wait_for(handler.fired.wait(), timeout=2)
        for _ in range(50):  # the row is marked done just after the handler returns
            if (await job_row(db, "events:remind:1:now")).status == "done":
                break
            await asyncio.sleep(0.02)
        assert (await job_row(db, "events:remind:1:now")).status == "done"
        assert handler.calls == [("events:remind:1:now", {"event": 1})]
    finally:
        await service.shutdown()
