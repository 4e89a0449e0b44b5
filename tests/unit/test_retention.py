"""The retention job, on the real app and a real SQLite file: what goes, what stays,
and that nothing pruned can come back (a job run twice, a nudge sent twice)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from bot.app import App
from bot.clock import FakeClock
from bot.ids import RoomId, UserId
from bot.retention import Retention, prune
from bot.scheduler.policy import MissedPolicy
from bot.storage.models import (
    Nudge,
    OutboxMessage,
    ProcessedEvent,
    ScheduledJob,
    SeenReaction,
    SentMessage,
)
from bot.transport import OutgoingMessage
from tests.fakes import BOB, FakeTransport

DAY = timedelta(days=1)


def retention(app: App) -> Retention:
    return next(f for f in app.features if isinstance(f, Retention))


async def count(app: App, model: Any) -> int:
    async with app.services.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_old_rows_go_and_recent_ones_stay(app: App, clock: FakeClock, transport: FakeTransport) -> None:
    outbox = app.services.outbox
    await outbox.enqueue(OutgoingMessage(room_id=RoomId("!dm-bob"), plain="oud", txn_id="t.old"))
    await outbox.deliver_due()
    await outbox.enqueue(
        OutgoingMessage(room_id=RoomId("!dm-bob"), plain="later", txn_id="t.pending"),
        due_at=clock.now() + 60 * DAY,
    )
    async with app.services.db.transaction() as session:
        for i, age in enumerate((400, 3)):
            moment = clock.now() - age * DAY
            session.add(
                SeenReaction(
                    event_id=f"$r{i}",
                    room_id="!events",
                    sender=BOB,
                    target_event_id="$card",
                    key="✅",
                    seen_at=moment,
                )
            )
            session.add(
                ProcessedEvent(
                    event_id=f"$e{i}", room_id="!welcome", status="done", received_at=moment, origin_ts=moment
                )
            )
            session.add(SentMessage(txn_id=f"s{i}", room_id="!welcome", event_id=f"$s{i}", sent_at=moment))
    first = await prune(app.services.db, clock.now())
    assert (first.outbox, first.seen_reactions, first.processed_events, first.sent_messages) == (0, 1, 1, 1)
    clock.advance(29 * DAY)
    second = await prune(app.services.db, clock.now())
    # 3 + 29 days: past the processed-events window (30) and the sent-record window (7).
    assert (second.outbox, second.seen_reactions, second.processed_events, second.sent_messages) == (
        0,
        0,
        1,
        1,
    )
    clock.advance(2 * DAY)
    assert (await retention(app).run()).outbox == 1
    async with app.services.db.session() as session:
        assert (await session.scalars(select(OutboxMessage.txn_id))).all() == ["t.pending"]
        assert (await session.scalars(select(SeenReaction.event_id))).all() == ["$r1"]
        assert await session.scalar(select(func.count()).select_from(ProcessedEvent)) == 0
        assert await session.scalar(select(func.count()).select_from(SentMessage)) == 0
    assert (await retention(app).run()).total == 0


async def test_a_pruned_job_is_not_recreated_and_run_again_by_a_rebuild(app: App, clock: FakeClock) -> None:
    """A feature that makes sure at start that its jobs exist (as casus follow-ups and
    buddy check-ins do, with a policy that runs them however late) finds no row for a
    job it ran long ago: the job must not come back."""
    runs: list[str] = []

    async def handler(job_id: str, payload: dict[str, Any]) -> None:
        runs.append(job_id)

    scheduler = app.services.scheduler
    scheduler.register("test.followup", handler, MissedPolicy.always())
    await app.start_features()
    due = clock.now() + DAY
    await scheduler.schedule_once("test:1", "test.followup", due, {}, replace=False)
    await scheduler.schedule_many([("test:2", "test.followup", due, {})])
    clock.advance(2 * DAY)
    assert await scheduler.run_due() == 2
    assert sorted(runs) == ["test:1", "test:2"]

    clock.advance(88 * DAY)  # 89 days after the run time: kept
    assert (await retention(app).run()).jobs == 0
    clock.advance(3 * DAY)  # 92 days after the run time, 91 after it finished
    assert (await retention(app).run()).jobs == 2
    assert await count(app, ScheduledJob) == 0

    # The start-up rebuild, exactly as before: same ids, same run time.
    await scheduler.schedule_once("test:1", "test.followup", due, {}, replace=False)
    assert await scheduler.schedule_many([("test:2", "test.followup", due, {})]) == 0
    await scheduler.run_due()
    assert sorted(runs) == ["test:1", "test:2"]
    assert await count(app, ScheduledJob) == 0


async def test_nudge_texts_are_emptied_once_ever_keys_stay_and_expired_ones_go(
    app: App, clock: FakeClock, transport: FakeTransport
) -> None:
    nudges = app.services.nudges
    await app.start_features()
    once = await nudges.nudge(
        BOB,
        "buddy.checkin",
        "buddy.checkin.ask",
        {"number": 7, "weeks": 2},
        dedupe_key="buddy:checkin:7:1:bob",
    )
    digest = await nudges.nudge(
        UserId("@carol:localhost"),
        "digest",
        "buddy.checkin.ask",
        {"number": 8, "weeks": 6},
        dedupe_key="digest:carol:20270316",
        expires_at=clock.now() + 3 * DAY,
    )
    assert once is not None and digest is not None
    for _ in range(4):
        clock.advance(DAY)
        await app.services.scheduler.run_due()
        await app.services.outbox.deliver_due()
    sent = len(transport.sent)
    async with app.services.db.session() as session:
        assert set((await session.scalars(select(Nudge.status))).all()) == {"sent"}

    clock.advance(10 * DAY)
    assert (await retention(app).run()).nudges_deleted == 1  # the digest, expired 11 days ago
    clock.advance(20 * DAY)
    assert (await retention(app).run()).nudges_emptied == 1
    async with app.services.db.session() as session:
        rows = (await session.scalars(select(Nudge))).all()
    assert [(r.dedupe_key, r.params) for r in rows] == [("buddy:checkin:7:1:bob", {})]

    # The same requests again, as a job run again would make them: neither is sent.
    assert (
        await nudges.nudge(BOB, "buddy.checkin", "buddy.checkin.ask", {}, dedupe_key="buddy:checkin:7:1:bob")
        is None
    )
    await nudges.nudge(
        UserId("@carol:localhost"),
        "digest",
        "buddy.checkin.ask",
        {"number": 8, "weeks": 6},
        dedupe_key="digest:carol:20270316",
        expires_at=clock.now() - 31 * DAY,
    )
    await app.services.scheduler.run_due()
    await app.services.outbox.deliver_due()
    assert len(transport.sent) == sent
