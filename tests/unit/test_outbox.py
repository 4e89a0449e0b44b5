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

pytestmark = pytest.mark.both_databases

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

        # Due in 1.5 s: far enough that a loaded machine (two test workers on two cores)
        # has not reached it by the check below, near enough to wait for.
        due_at = datetime.now(UTC) + timedelta(seconds=1.5)
        await outbox.enqueue(msg("soon"), due_at=due_at)
        await asyncio.sleep(0.1)
        if datetime.now(UTC) < due_at:
            assert transport.sent_txns() == ["now"]  # not due yet
        await eventually(lambda: _sent_count(transport, 2), timeout=5.0)
        assert datetime.now(UTC) >= due_at  # and not before it was due
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


# -- rooms side by side ------------------------------------------------------------------------


class RoomsTransport(ScriptedTransport):
    """A scripted transport whose sends take time: ``delay`` seconds (a callable gets the
    message), and forever for a room whose gate is closed. Counts sends in flight."""

    def __init__(self, delay: Callable[[OutgoingMessage], float] | float = 0.0) -> None:
        super().__init__()
        self._delay = delay
        self.gates: dict[str, asyncio.Event] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.started: list[str] = []  # txn ids in the order their sends began

    def close(self, room: str) -> None:
        self.gates[room] = asyncio.Event()

    def open(self, room: str) -> None:
        self.gates[room].set()

    async def send(self, message: OutgoingMessage) -> EventId:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.started.append(message.txn_id or "")
        try:
            gate = self.gates.get(message.room_id)
            if gate is not None:
                await gate.wait()
            delay = self._delay(message) if callable(self._delay) else self._delay
            await asyncio.sleep(delay)
            return await super().send(message)
        finally:
            self.in_flight -= 1

    def sent_to(self, room: str) -> list[str]:
        return [m.txn_id or "" for m in self.sent if m.room_id == room]


def to(room: str, txn_id: str) -> OutgoingMessage:
    return OutgoingMessage(room_id=RoomId(room), plain="Herinnering", txn_id=txn_id)


async def test_each_room_keeps_its_order_while_rooms_are_sent_at_once(db: Database) -> None:
    # Sends take a random time, so rows sent side by side *within* a room would overtake.
    jitter = random.Random(7)
    transport = RoomsTransport(delay=lambda _m: jitter.uniform(0.0, 0.01))
    outbox = make_outbox(db, transport, SystemClock(), concurrency=4)
    base = datetime.now(UTC) - timedelta(minutes=5)
    rooms = [f"!dm{r}" for r in range(6)]
    for i in range(10):
        for room in rooms:
            await outbox.enqueue(to(room, f"{room}:{i}"), due_at=base + timedelta(seconds=i))

    await outbox.start()
    try:
        await eventually(lambda: _backlog_is(outbox, 0))
    finally:
        await outbox.stop()
    for room in rooms:
        assert transport.sent_to(room) == [f"{room}:{i}" for i in range(10)]
    assert len(transport.attempts) == 60  # each once
    assert transport.max_in_flight > 1  # and really side by side


async def test_a_room_whose_send_hangs_does_not_hold_up_the_others(db: Database) -> None:
    transport = RoomsTransport()
    transport.close("!slow")
    # Messages due later wait for the hung, older one only this long.
    outbox = make_outbox(db, transport, SystemClock(), concurrency=4, order_wait_s=0.1)
    await outbox.enqueue(to("!slow", "slow:1"))
    await outbox.enqueue(to("!slow", "slow:2"))
    for i in range(5):
        await outbox.enqueue(to("!quick", f"quick:{i}"))
        await outbox.enqueue(to(f"!other{i}", f"other:{i}"))

    await outbox.start()
    try:
        await eventually(lambda: _backlog_is(outbox, 2), timeout=2.0)
        assert transport.sent_to("!quick") == [f"quick:{i}" for i in range(5)]
        assert "slow:2" not in transport.started  # its room waits behind slow:1
        transport.open("!slow")
        await eventually(lambda: _backlog_is(outbox, 0), timeout=2.0)
    finally:
        await outbox.stop()
    assert transport.sent_to("!slow") == ["slow:1", "slow:2"]


async def test_a_failing_room_retries_in_order_while_other_rooms_go_on(db: Database) -> None:
    transport = RoomsTransport()
    outbox = make_outbox(db, transport, SystemClock(), max_backoff_s=0.1, concurrency=2)
    base = datetime.now(UTC) - timedelta(minutes=1)
    for i in range(3):
        await outbox.enqueue(to("!down", f"down:{i}"), due_at=base + timedelta(seconds=i))
        await outbox.enqueue(to("!up", f"up:{i}"), due_at=base + timedelta(seconds=i))
    transport.fail("down:0", TransportUnavailable("502"), times=3)

    await outbox.start()
    try:
        await eventually(lambda: _backlog_is(outbox, 0), timeout=5.0)
    finally:
        await outbox.stop()
    down = [txn for txn in transport.attempts if txn.startswith("down")]
    assert down == ["down:0"] * 4 + ["down:1", "down:2"]  # never skipped, never reordered
    assert transport.sent_to("!down") == ["down:0", "down:1", "down:2"]
    # The healthy room did not wait for the failing one's retries.
    assert transport.sent_txns().index("up:2") < transport.sent_txns().index("down:0")
    assert (await row_for(db, "down:0")).attempts == 4


async def test_a_later_row_in_a_busy_room_is_sent_when_due(db: Database) -> None:
    # The worker passes over a room whose lane is busy; the room's next row must still
    # go when due, not at the worker's next idle poll.
    for queued_while_busy in (False, True):
        transport = RoomsTransport(delay=0.1)
        outbox = make_outbox(db, transport, SystemClock(), idle_poll_s=30.0)
        room = f"!dm-{queued_while_busy}"
        await outbox.enqueue(to(room, f"now-{queued_while_busy}"))
        if not queued_while_busy:
            await outbox.enqueue(
                to(room, f"soon-{queued_while_busy}"), due_at=datetime.now(UTC) + timedelta(seconds=0.3)
            )
        await outbox.start()
        try:
            await eventually(lambda t=transport: _attempted_started(t, 1))
            if queued_while_busy:
                await outbox.enqueue(
                    to(room, f"soon-{queued_while_busy}"), due_at=datetime.now(UTC) + timedelta(seconds=0.3)
                )
            await eventually(lambda t=transport: _sent_count(t, 2), timeout=2.0)
        finally:
            await outbox.stop()
        assert transport.sent_txns() == [f"now-{queued_while_busy}", f"soon-{queued_while_busy}"]


async def test_no_more_sends_at_once_than_the_bound(db: Database) -> None:
    transport = RoomsTransport(delay=0.02)
    outbox = make_outbox(db, transport, SystemClock(), concurrency=3)
    await outbox.enqueue_many([to(f"!dm{i}", f"dm:{i}") for i in range(20)])  # a fan-out

    await outbox.start()
    try:
        await eventually(lambda: _backlog_is(outbox, 0))
    finally:
        await outbox.stop()
    # Three side by side, never more: counted by the transport, not timed (a loaded
    # machine makes wall-clock bounds flaky; bench/events_reminders.py measures pace).
    assert transport.max_in_flight == 3
    assert len(transport.sent) == 20


async def test_rooms_get_messages_due_at_different_times_in_due_order(db: Database) -> None:
    # Slow sends: with rooms side by side, a later message to another room would reach
    # the homeserver while the older one is still on its way, and could overtake it.
    transport = RoomsTransport(delay=0.05)
    outbox = make_outbox(db, transport, SystemClock(), concurrency=8)
    base = datetime.now(UTC) - timedelta(minutes=1)
    for i in range(4):
        await outbox.enqueue(to(f"!room{i}", f"r{i}"), due_at=base + timedelta(seconds=i))
    await outbox.enqueue_many([to(f"!dm{i}", f"fan{i}") for i in range(4)], due_at=base + timedelta(seconds=9))
    await outbox.start()
    try:
        await eventually(lambda: _backlog_is(outbox, 0))
    finally:
        await outbox.stop()
    assert transport.sent_txns()[:4] == ["r0", "r1", "r2", "r3"]
    assert sorted(transport.sent_txns()[4:]) == ["fan0", "fan1", "fan2", "fan3"]
    assert transport.max_in_flight == 4  # only the fan-out, due together, went side by side


async def test_concurrency_one_sends_one_at_a_time_in_due_order(db: Database) -> None:
    transport = RoomsTransport(delay=0.005)
    outbox = make_outbox(db, transport, SystemClock(), concurrency=1)
    base = datetime.now(UTC) - timedelta(minutes=1)
    for i in range(6):
        await outbox.enqueue(to(f"!dm{i % 3}", f"m{i}"), due_at=base + timedelta(seconds=i))
    await outbox.start()
    try:
        await eventually(lambda: _backlog_is(outbox, 0))
    finally:
        await outbox.stop()
    assert transport.max_in_flight == 1
    assert transport.sent_txns() == [f"m{i}" for i in range(6)]


async def test_a_rate_limit_pauses_every_room(db: Database) -> None:
    # The homeserver's rate limit counts the account's messages, whatever the room.
    transport = RoomsTransport()
    outbox = make_outbox(db, transport, SystemClock(), concurrency=4)
    await outbox.enqueue(to("!a", "a:1"))
    transport.fail("a:1", RateLimited("M_LIMIT_EXCEEDED", retry_after=0.3))
    await outbox.start()
    try:
        await eventually(lambda: _attempted(transport, 1))
        limited_at = time.monotonic()
        await outbox.enqueue(to("!b", "b:1"))
        await eventually(lambda: _backlog_is(outbox, 0), timeout=3.0)
        waited = time.monotonic() - limited_at
    finally:
        await outbox.stop()
    assert waited >= 0.25
    assert transport.attempts == ["a:1", "a:1", "b:1"] or transport.attempts == ["a:1", "b:1", "a:1"]
    assert sorted(transport.sent_txns()) == ["a:1", "b:1"]


async def test_one_pass_goes_on_in_other_rooms_past_an_outage(db: Database, clock: FakeClock) -> None:
    transport = RoomsTransport()
    outbox = make_outbox(db, transport, clock)
    for i in range(3):
        await outbox.enqueue(to("!down", f"down:{i}"))
        await outbox.enqueue(to("!up", f"up:{i}"))
    transport.fail("down:0", TransportUnavailable("connection refused"))

    assert await outbox.deliver_due() == 3
    assert transport.sent_to("!up") == ["up:0", "up:1", "up:2"]
    assert [r.txn_id for r in await outbox.pending()] == ["down:0", "down:1", "down:2"]
    assert await outbox.deliver_due() == 3
    assert transport.sent_to("!down") == ["down:0", "down:1", "down:2"]


async def test_stop_while_sends_hang_returns_promptly_and_loses_nothing(db: Database, clock: FakeClock) -> None:
    transport = RoomsTransport()
    for room in ("!a", "!b"):
        transport.close(room)
    outbox = make_outbox(db, transport, clock)
    await outbox.enqueue(to("!a", "a:1"))
    await outbox.enqueue(to("!b", "b:1"))
    await outbox.start()
    await eventually(lambda: _attempted_started(transport, 2))

    started = time.monotonic()
    await outbox.stop()
    assert time.monotonic() - started < 0.5
    assert await outbox.backlog() == 2  # pending, sent (same txn id) at the next start


async def test_enqueue_many_is_one_write_in_order_and_idempotent(db: Database, clock: FakeClock) -> None:
    transport = ScriptedTransport()
    outbox = make_outbox(db, transport, clock)
    first = await outbox.enqueue(to("!dm1", "fan:1"))
    ids = await outbox.enqueue_many([to("!dm0", "fan:0"), to("!dm1", "fan:1"), to("!dm2", "fan:2")])
    assert ids[1] == first and len(set(ids)) == 3
    assert await outbox.enqueue_many([to("!dm2", "fan:2"), to("!dm0", "fan:0")]) == [ids[2], ids[0]]
    assert [r.txn_id for r in await outbox.pending()] == ["fan:1", "fan:0", "fan:2"]
    assert await outbox.enqueue_many([]) == []
    with pytest.raises(ValueError):
        await outbox.enqueue_many([to("!dm3", "fan:3"), OutgoingMessage(room_id=ROOM, plain="x")])
    assert await outbox.backlog() == 3  # nothing of a refused batch was stored


def test_concurrency_must_be_within_bounds(db: Database, clock: FakeClock) -> None:
    for bad in (0, 65):
        with pytest.raises(ValueError):
            make_outbox(db, ScriptedTransport(), clock, concurrency=bad)


# -- helpers for eventually() ---------------------------------------------------------------


async def _backlog_is(outbox: Outbox, n: int) -> bool:
    return await outbox.backlog() == n


async def _sent_count(transport: ScriptedTransport, n: int) -> bool:
    return len(transport.sent) >= n


async def _attempted(transport: ScriptedTransport, n: int) -> bool:
    return len(transport.attempts) >= n


async def _stopped(outbox: Outbox) -> bool:
    return not outbox.running


async def _attempted_started(transport: RoomsTransport, n: int) -> bool:
    return len(transport.started) >= n
