"""The outbox: reminders and posted cases go out in due order, once, through outages.

A scripted transport stands in for the homeserver: it records every send attempt,
answers a repeated transaction id with the earlier event id (as the real transport
does) and can be told to fail the next sends of a transaction id with a rate limit,
an outage or a rejection. The database is a real SQLite file. Single passes run
through ``deliver_due()`` under the fake clock; the worker tests use real time with
short pauses.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.backoff import Backoff
from bot.clock import Clock, FakeClock, SystemClock
from bot.errors import InvalidCredentials, MessageRejected, RateLimited, TransportUnavailable
from bot.ids import EventId, RoomId, UserId
from bot.outbox import Outbox
from bot.storage.database import Database
from bot.storage.models import OutboxMessage
from bot.transport import OutgoingMessage

ROOM = RoomId("!events")
ANNA = UserId("@anna:kennisbrug.nl")


class ScriptedTransport:
    """Records sends; ``fail(txn, exc, times)`` makes the next sends of ``txn`` raise."""

    def __init__(self) -> None:
        self.attempts: list[str] = []  # txn id of every call, failed ones included
        self.sent: list[OutgoingMessage] = []  # messages that really went out
        self._faults: dict[str, deque[Exception]] = defaultdict(deque)
        self._by_txn: dict[str, EventId] = {}

    @property
    def own_user_id(self) -> UserId:
        return UserId("@kennisbrug:localhost")

    def fail(self, txn_id: str, exc: Exception, times: int = 1) -> None:
        self._faults[txn_id].extend([exc] * times)

    async def send(self, message: OutgoingMessage) -> EventId:
        assert message.txn_id is not None
        self.attempts.append(message.txn_id)
        await asyncio.sleep(0)  # a real send yields to the loop
        if self._faults[message.txn_id]:
            raise self._faults[message.txn_id].popleft()
        if message.txn_id in self._by_txn:
            return self._by_txn[message.txn_id]
        self.sent.append(message)
        event_id = EventId(f"$ev{len(self.sent)}")
        self._by_txn[message.txn_id] = event_id
        return event_id

    def sent_txns(self) -> list[str]:
        return [m.txn_id or "" for m in self.sent]


def msg(txn_id: str, plain: str = "Herinnering: intervisie morgen om 10:00", **kw: object) -> OutgoingMessage:
    return OutgoingMessage(room_id=ROOM, plain=plain, txn_id=txn_id, **kw)  # type: ignore[arg-type]


async def row_for(db: Database, txn_id: str) -> OutboxMessage:
    async with db.session() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.txn_id == txn_id))
    assert row is not None
    return row


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def make_outbox(db: Database, transport: ScriptedTransport, clock: Clock, **kw: float) -> Outbox:
    kw.setdefault("max_backoff_s", 0.05)
    return Outbox(db, transport, clock, **kw)  # type: ignore[arg-type]


# -- enqueueing ------------------------------------------------------------------------


async def test_enqueue_is_idempotent_by_txn_id(db: Database, clock: FakeClock) -> None:
    outbox = make_outbox(db, ScriptedTransport(), clock)
    first = await outbox.enqueue(msg("events:remind:12:24h", mentions=(ANNA,), html="<b>x</b>"))
    again = await outbox.enqueue(
        msg("events:remind:12:24h", plain="other text"), due_at=clock.now() + timedelta(days=1)
    )

    assert again == first
    row = await row_for(db, "events:remind:12:24h")
    assert row.plain == "Herinnering: intervisie morgen om 10:00"
    assert row.html == "<b>x</b>"
    assert row.mentions == {"user_ids": [ANNA]}
    assert row.due_at == clock.now()  # defaults to now, and was not moved by the repeat
    assert row.status == "pending"
    assert await outbox.backlog() == 1


async def test_enqueue_without_txn_id_is_refused(db: Database, clock: FakeClock) -> None:
    outbox = make_outbox(db, ScriptedTransport(), clock)
    with pytest.raises(ValueError):
        await outbox.enqueue(OutgoingMessage(room_id=ROOM, plain="hallo"))
    with pytest.raises(ValueError):
        await outbox.enqueue(OutgoingMessage(room_id=ROOM, plain="hallo", txn_id=""))
    with pytest.raises(ValueError):
        await outbox.enqueue(msg("naive"), due_at=datetime(2027, 3, 16, 9, 0))  # no zone
    assert await outbox.backlog() == 0


# -- order and due times -----------------------------------------------------------------


async def test_deliver_due_sends_in_due_order_and_waits_for_the_rest(db: Database, clock: FakeClock) -> None:
    transport = ScriptedTransport()
    outbox = make_outbox(db, transport, clock)
    now = clock.now()
    await outbox.enqueue(msg("c"), due_at=now - timedelta(minutes=1))
    await outbox.enqueue(msg("later"), due_at=now + timedelta(minutes=10))
    await outbox.enqueue(msg("a"), due_at=now - timedelta(minutes=30))
    await outbox.enqueue(msg("b"), due_at=now - timedelta(minutes=5))
    await outbox.enqueue(msg("d"))  # due now

    assert await outbox.deliver_due() == 4
    assert transport.sent_txns() == ["a", "b", "c", "d"]
    assert [r.txn_id for r in await outbox.pending()] == ["later"]

    assert await outbox.deliver_due() == 0  # not yet due: it waits
    clock.advance(timedelta(minutes=10))
    assert await outbox.deliver_due() == 1
    assert transport.sent_txns() == ["a", "b", "c", "d", "later"]

    row = await row_for(db, "a")
    assert (row.status, row.attempts, row.event_id, row.sent_at) == ("sent", 1, "$ev1", now)
    assert await outbox.stats() == {"pending": 0, "sent": 5, "failed": 0}


async def test_same_due_time_keeps_enqueue_order(db: Database, clock: FakeClock) -> None:
    transport = ScriptedTransport()
    outbox = make_outbox(db, transport, clock)
    for name in ["x3", "x1", "x2"]:
        await outbox.enqueue(msg(name))
    await outbox.deliver_due()
    assert transport.sent_txns() == ["x3", "x1", "x2"]


# -- failures ------------------------------------------------------------------------------


async def test_outage_records_the_reason_and_the_row_is_sent_once_later(
    db: Database, clock: FakeClock
) -> None:
    transport = ScriptedTransport()
    outbox = make_outbox(db, transport, clock)
    await outbox.enqueue(msg("digest:week:11"))
    await outbox.enqueue(msg("digest:week:12"))
    transport.fail("digest:week:11", TransportUnavailable("homeserver answered 502"), times=2)

    assert await outbox.deliver_due() == 0  # stops at the row that must be retried
    row = await row_for(db, "digest:week:11")
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.reason == "TransportUnavailable: homeserver answered 502"
    assert "Herinnering" not in row.reason
    assert transport.attempts == ["digest:week:11"]  # the next row did not overtake it

    assert await outbox.deliver_due() == 0
    assert await outbox.deliver_due() == 2
    row = await row_for(db, "digest:week:11")
    assert (row.status, row.attempts, row.event_id) == ("sent", 3, "$ev1")
    assert transport.sent_txns() == ["digest:week:11", "digest:week:12"]


async def test_rejected_message_fails_with_reason_and_the_next_goes_out(
    db: Database, clock: FakeClock
) -> None:
    transport = ScriptedTransport()
    outbox = make_outbox(db, transport, clock)
    for name in ["r1", "r2", "r3"]:
        await outbox.enqueue(msg(name))
    transport.fail("r2", MessageRejected("M_FORBIDDEN: not allowed to post"))

    assert await outbox.deliver_due() == 2
    assert transport.sent_txns() == ["r1", "r3"]
    row = await row_for(db, "r2")
    assert (row.status, row.attempts, row.event_id) == ("failed", 1, None)
    assert row.reason == "MessageRejected: M_FORBIDDEN: not allowed to post"
    assert await outbox.stats() == {"pending": 0, "sent": 2, "failed": 1}
    assert await outbox.deliver_due() == 0  # a failed row is never tried again
    assert transport.attempts.count("r2") == 1


async def test_unexpected_error_is_retried_and_logged_with_traceback(
    db: Database, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    transport = ScriptedTransport()
    outbox = make_outbox(db, transport, clock)
    await outbox.enqueue(msg("odd"))
    transport.fail("odd", KeyError("boom"))

    with caplog.at_level(logging.ERROR, logger="bot.outbox"):
        assert await outbox.deliver_due() == 0
    assert any(r.exc_info for r in caplog.records)
    assert all("Herinnering" not in r.getMessage() for r in caplog.records)
    assert (await row_for(db, "odd")).reason == "KeyError: 'boom'"
    assert await outbox.deliver_due() == 1


async def test_restart_delivers_what_was_pending_and_nothing_twice(db: Database, clock: FakeClock) -> None:
    transport = ScriptedTransport()  # the transport's record of sent txn ids outlives the bot
    first = make_outbox(db, transport, clock)
    for i in range(1, 6):
        await first.enqueue(msg(f"case:{i}"), due_at=clock.now() - timedelta(minutes=10 - i))
    transport.fail("case:3", TransportUnavailable("connection refused"))
    assert await first.deliver_due() == 2
    # The bot died after case:3 went out on a retry but before its row was marked.
    await transport.send(msg("case:3"))

    second = make_outbox(db, transport, clock)
    for i in range(1, 6):  # the features re-enqueue at start: harmless
        await second.enqueue(msg(f"case:{i}"))
    assert await second.deliver_due() == 3

    assert transport.sent_txns() == [f"case:{i}" for i in range(1, 6)]
    row = await row_for(db, "case:3")
    assert (row.status, row.event_id) == ("sent", "$ev3")
    assert await second.stats() == {"pending": 0, "sent": 5, "failed": 0}


def test_backoff_doubles_from_half_a_second_up_to_the_cap() -> None:
    backoff = Backoff(0.5, 5.0)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert [backoff.next() for _ in range(10_000)][-1] == 5.0
    assert Backoff(0.5, 0.05).next() == 0.05


# -- the worker, in real time ---------------------------------------------------------------


async def test_worker_keeps_order_through_a_rate_limit(db: Database) -> None:
    transport = ScriptedTransport()
    outbox = make_outbox(db, transport, SystemClock(), idle_poll_s=0.5)
    base = datetime.now(UTC) - timedelta(minutes=1)
    for i in range(1, 7):
        await outbox.enqueue(msg(f"row{i}"), due_at=base + timedelta(seconds=i))
    transport.fail("row3", RateLimited("M_LIMIT_EXCEEDED", retry_after=0.05), times=2)

    started = time.monotonic()
    await outbox.start()
    try:
        await eventually(lambda: _backlog_is(outbox, 0))
    finally:
        await outbox.stop()

    assert time.monotonic() - started >= 0.1  # it waited as asked, twice
    assert transport.attempts == ["row1", "row2", "row3", "row3", "row3", "row4", "row5", "row6"]
    assert transport.sent_txns() == [f"row{i}" for i in range(1, 7)]
    row = await row_for(db, "row3")
    assert (row.status, row.attempts) == ("sent", 3)
    assert row.reason == "RateLimited: M_LIMIT_EXCEEDED"


async def test_worker_retries_through_an_outage(db: Database, clock: FakeClock) -> None:
    transport = ScriptedTransport()
    outbox = make_outbox(db, transport, clock)
    await outbox.enqueue(msg("nudge:7"))
    await outbox.enqueue(msg("nudge:8"))
    transport.fail("nudge:7", TransportUnavailable("timeout"), times=3)

    await outbox.start()
    try:
        await eventually(lambda: _backlog_is(outbox, 0))
    finally:
        await outbox.stop()
    assert transport.attempts == ["nudge:7"] * 4 + ["nudge:8"]
    assert transport.sent_txns() == ["nudge:7", "nudge:8"]


async def test_worker_delivers_thirty_overdue_messages_in_due_order(db: Database) -> None:
    transport = ScriptedTransport()
    outbox = make_outbox(db, transport, SystemClock())
    base = datetime.now(UTC) - timedelta(hours=2)
    order = list(range(30))
    random.Random(4).shuffle(order)
    for i in order:
        await outbox.enqueue(msg(f"remind:{i:02d}"), due_at=base + timedelta(minutes=i))

    started = time.monotonic()
    await outbox.start()
    try:
        await eventually(lambda: _backlog_is(outbox, 0), timeout=5.0)
    finally:
        await outbox.stop()
    assert time.monotonic() - started < 5.0
    assert transport.sent_txns() == [f"remind:{i:02d}" for i in range(30)]
    assert len(transport.attempts) == 30


async def test_worker_wakes_for_a_new_message_and_sleeps_until_a_due_time(db: Database) -> None:
    transport = ScriptedTransport()
    outbox = make_outbox(db, transport, SystemClock(), idle_poll_s=30.0)
    await outbox.start()
    try:
        await asyncio.sleep(0.05)  # idle, sleeping up to 30 s
        await outbox.enqueue(msg("now"))
        await eventually(lambda: _sent_count(transport, 1), timeout=1.0)

        await outbox.enqueue(msg("soon"), due_at=datetime.now(UTC) + timedelta(seconds=0.3))
        await asyncio.sleep(0.1)
        assert transport.sent_txns() == ["now"]  # not due yet
        await eventually(lambda: _sent_count(transport, 2), timeout=2.0)
    finally:
        await outbox.stop()
    assert transport.sent_txns() == ["now", "soon"]


async def test_stop_while_waiting_returns_promptly(db: Database, clock: FakeClock) -> None:
    outbox = make_outbox(db, ScriptedTransport(), clock, idle_poll_s=30.0)
    await outbox.enqueue(msg("tomorrow"), due_at=clock.now() + timedelta(days=1))
    await outbox.start()
    await outbox.start()  # one worker only
    await asyncio.sleep(0.05)
    assert outbox.running

    started = time.monotonic()
    await outbox.stop()
    assert time.monotonic() - started < 0.5
    assert not outbox.running
    await outbox.stop()  # a second stop is harmless
    assert await outbox.backlog() == 1


async def test_stop_during_a_backoff_returns_promptly(db: Database, clock: FakeClock) -> None:
    transport = ScriptedTransport()
    outbox = make_outbox(db, transport, clock, max_backoff_s=30.0)
    await outbox.enqueue(msg("down"))
    transport.fail("down", RateLimited("slow down", retry_after=30.0))
    await outbox.start()
    await eventually(lambda: _attempted(transport, 1))

    started = time.monotonic()
    await outbox.stop()
    assert time.monotonic() - started < 0.5
    assert (await row_for(db, "down")).status == "pending"


async def test_invalid_credentials_stop_the_worker(
    db: Database, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    transport = ScriptedTransport()
    outbox = make_outbox(db, transport, clock)
    await outbox.enqueue(msg("first"))
    await outbox.enqueue(msg("second"))
    transport.fail("first", InvalidCredentials("M_UNKNOWN_TOKEN"))

    with caplog.at_level(logging.ERROR, logger="bot.outbox"):
        await outbox.start()
        await eventually(lambda: _stopped(outbox), timeout=2.0)
    assert transport.attempts == ["first"]
    assert await outbox.backlog() == 2  # nothing lost: both wait for a new token
    assert any("credentials" in r.getMessage() for r in caplog.records)
    await outbox.stop()

    transport.fail("first", InvalidCredentials("M_UNKNOWN_TOKEN"))
    with pytest.raises(InvalidCredentials):  # a direct pass surfaces it too
        await outbox.deliver_due()


async def test_pending_lists_rows_in_sending_order(db: Database, clock: FakeClock) -> None:
    outbox = make_outbox(db, ScriptedTransport(), clock)
    now = clock.now()
    for i, minutes in enumerate([30, 10, 20]):
        await outbox.enqueue(msg(f"p{i}"), due_at=now + timedelta(minutes=minutes))
    assert [r.txn_id for r in await outbox.pending()] == ["p1", "p2", "p0"]
    assert [r.txn_id for r in await outbox.pending(limit=2)] == ["p1", "p2"]
    assert await outbox.backlog() == 3
    assert await outbox.stats() == {"pending": 3, "sent": 0, "failed": 0}


# -- helpers for eventually() ---------------------------------------------------------------


async def _backlog_is(outbox: Outbox, n: int) -> bool:
    return await outbox.backlog() == n


async def _sent_count(transport: ScriptedTransport, n: int) -> bool:
    return len(transport.sent) >= n


async def _attempted(transport: ScriptedTransport, n: int) -> bool:
    return len(transport.attempts) >= n


async def _stopped(outbox: Outbox) -> bool:
    return not outbox.running
