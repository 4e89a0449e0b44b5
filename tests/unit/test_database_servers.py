"""What a database server does that one SQLite file hides: several processes on one
database, a server restart under a running bot, and errors that must not leak the
values bound into a statement.

"Two processes" are two :class:`Database` objects on the same URL: separate pools,
separate server sessions, as two bots would have.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from bot.clock import FakeClock, SystemClock
from bot.ids import EventId, UserId
from bot.outbox import Outbox
from bot.scheduler import SchedulerService
from bot.storage import Database
from bot.storage.models import Member, OutboxMessage, ScheduledJob
from bot.transport import OutgoingMessage
from commands.events.store import ANNOUNCED, GOING, WAITING, EventStore, NewEvent
from tests.conftest import PostgresForTests
from tests.unit.test_outbox import _backlog_is, eventually

SECRET_MEMBER = "@geheim-lid-7f3a:kennisbrug.nl"


@pytest.fixture
async def two_processes(db: Database) -> AsyncIterator[tuple[Database, Database]]:
    """The test's database, and a second Database object (another pool) on it."""
    other = Database(db.url)
    yield db, other
    await other.dispose()


class SharedLogTransport:
    """Sends take a while; every send of every instance goes into one shared log."""

    def __init__(self, log: list[tuple[float, str]], delay: float) -> None:
        self._log = log
        self._delay = delay

    @property
    def own_user_id(self) -> UserId:
        return UserId("@kennisbrug:localhost")

    async def send(self, message: OutgoingMessage) -> EventId:
        self._log.append((time.monotonic(), message.txn_id or ""))
        await asyncio.sleep(self._delay)
        return EventId(f"$ev-{message.txn_id}")


# -- concurrency ------------------------------------------------------------------------


@pytest.mark.postgresql_only
async def test_two_outboxes_on_one_database_never_send_the_same_row(
    two_processes: tuple[Database, Database],
) -> None:
    first_db, second_db = two_processes
    log: list[tuple[float, str]] = []
    outboxes = [
        Outbox(db, SharedLogTransport(log, delay=0.01), SystemClock(), max_backoff_s=0.05)  # type: ignore[arg-type]
        for db in (first_db, second_db)
    ]
    base = datetime.now(UTC) - timedelta(minutes=5)
    rooms = [f"!dm{r}" for r in range(8)]
    for i in range(5):
        await outboxes[0].enqueue_many(
            [OutgoingMessage(room_id=room, plain="herinnering", txn_id=f"{room}:{i}") for room in rooms],
            due_at=base + timedelta(seconds=i),
        )
    await asyncio.gather(*(outbox.start() for outbox in outboxes))
    try:
        await eventually(lambda: _backlog_is(outboxes[0], 0), timeout=30)
    finally:
        await asyncio.gather(*(outbox.stop() for outbox in outboxes))
    sent = [txn for _, txn in sorted(log)]
    assert sorted(sent) == sorted(f"{room}:{i}" for i in range(5) for room in rooms)  # each once
    for room in rooms:  # and each room in order, across both processes
        assert [txn for txn in sent if txn.startswith(f"{room}:")] == [f"{room}:{i}" for i in range(5)]
    async with first_db.session() as session:
        statuses = set((await session.scalars(select(OutboxMessage.status))).all())
    assert statuses == {"sent"}


@pytest.mark.both_databases
async def test_two_schedulers_on_one_database_run_each_job_once(
    two_processes: tuple[Database, Database], clock: FakeClock
) -> None:
    calls: list[str] = []

    async def handler(job_id: str, _payload: dict[str, Any]) -> None:
        calls.append(job_id)
        await asyncio.sleep(0.001)

    services = [SchedulerService(db, clock, "Europe/Amsterdam") for db in two_processes]
    for service in services:
        service.register("events:remind", handler)
    due = clock.now() - timedelta(minutes=1)
    await services[0].schedule_many([(f"job:{n}", "events:remind", due, {}) for n in range(30)])

    ran = await asyncio.gather(*(service.run_due() for service in services for _ in range(2)))

    assert sum(ran) == 30
    assert sorted(calls) == sorted(f"job:{n}" for n in range(30))
    async with two_processes[0].session() as session:
        rows = (await session.scalars(select(ScheduledJob))).all()
    assert {(row.status, row.attempts) for row in rows} == {("done", 1)}


@pytest.mark.both_databases
async def test_two_processes_racing_for_the_last_place_give_it_to_one(
    two_processes: tuple[Database, Database], clock: FakeClock
) -> None:
    stores = [EventStore(db, clock, "kennisbrug.nl") for db in two_processes]
    starts = clock.now() + timedelta(days=7)
    [event] = await stores[0].create(
        [NewEvent("Intervisie", starts, starts + timedelta(hours=2), "online", capacity=3)],
        "@organisator:kennisbrug.nl",
        status=ANNOUNCED,
    )
    users = [f"@lid{n:02d}:kennisbrug.nl" for n in range(12)]
    await asyncio.gather(
        *(stores[n % 2].answer(event.id, user, GOING, "command") for n, user in enumerate(users))
    )
    rsvps = await stores[1].rsvps(event.id)
    assert sorted(r.status for r in rsvps) == [GOING] * 3 + [WAITING] * 9
    assert len({r.position for r in rsvps}) == 12  # the counter was never read twice


# -- errors do not carry bound values ------------------------------------------------------


@pytest.mark.both_databases
async def test_a_failing_statement_names_no_bound_value(
    db: Database, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with db.transaction() as session:
        session.add(Member(user_id=SECRET_MEMBER, language="nl", first_seen=clock.now()))
    caplog.set_level(logging.INFO)
    with pytest.raises(IntegrityError) as duplicate:
        async with db.transaction() as session:
            session.add(Member(user_id=SECRET_MEMBER, language="nl", first_seen=clock.now()))
    with pytest.raises(DBAPIError) as missing:
        async with db.session() as session:
            await session.execute(text("SELECT * FROM no_such_table WHERE name = :value"), {"value": SECRET_MEMBER})
    raised_errors: list[BaseException] = [duplicate.value, missing.value]
    if not db.is_sqlite:
        # asyncpg itself quotes a value it cannot encode; that text is cleaned too.
        with pytest.raises(DBAPIError) as bad_type:
            async with db.session() as session:
                await session.execute(text("SELECT CAST(:value AS INTEGER)"), {"value": SECRET_MEMBER})
        assert "query argument $1 [value hidden]" in str(bad_type.value)
        raised_errors.append(bad_type.value)
    for raised in raised_errors:
        assert "[SQL parameters hidden" in str(raised)  # the statement is there, its values are not
        # Nor anywhere in what a logged traceback shows: the chain of causes.
        logging.getLogger("kennisbrug.test").error("statement failed", exc_info=raised)
        cause: BaseException | None = raised
        while cause is not None:
            assert "geheim" not in str(cause), type(cause)
            cause = cause.__cause__ or cause.__context__
    assert "statement failed" in caplog.text and "geheim" not in caplog.text


# -- a server restart -------------------------------------------------------------------------


@pytest.mark.postgresql_only
async def test_the_pool_reconnects_after_a_server_restart(db: Database, postgres_server: PostgresForTests) -> None:
    server = postgres_server.server
    async with db.session() as session:
        assert await session.scalar(text("SELECT 1")) == 1  # a pooled connection exists
    assert await db.ping()

    server.stop(remove=False)
    try:
        assert not await db.ping()  # while the server is down, operations fail (and say so)
    finally:
        server.start()

    # The same Database, no new object: the stale pooled connections are replaced.
    assert await db.ping()
    async with db.transaction() as session:
        session.add(Member(user_id="@na-herstart:kennisbrug.nl", language="nl", first_seen=datetime.now(UTC)))
    async with db.session() as session:
        assert await session.get(Member, "@na-herstart:kennisbrug.nl") is not None
