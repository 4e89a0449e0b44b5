"""A PostgreSQL server that restarts under the bot: what the database layer does.

The server is this module's own (the session's shared one is never stopped). The bot's
end-to-end behaviour is ``tests/integration/reliability/test_postgres_restart.py``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from bot.clock import SystemClock
from bot.devtools.postgres import LocalPostgres
from bot.scheduler import SchedulerService
from bot.storage import Database
from bot.storage.database import DatabaseUnavailable, database_unavailable
from bot.storage.lock import AlreadyRunning, InstanceLock
from bot.storage.migrate import migrate
from bot.storage.models import ScheduledJob

pytestmark = pytest.mark.postgresql_only




async def _select_one(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(text("SELECT 1"))).scalar_one())


async def test_an_outage_is_one_warning_and_one_reconnected_line(
    database_kind: str, own_postgres: LocalPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    await own_postgres.create_database("outage_lines")
    db = Database(own_postgres.url("outage_lines"))
    try:
        assert await _select_one(db) == 1
        caplog.set_level(logging.INFO, logger="bot.storage.database")
        await asyncio.to_thread(own_postgres.stop, remove=False)
        failures = []
        for _ in range(5):  # the sync loop, the outbox and the heartbeat, all failing
            with pytest.raises(Exception) as caught:
                await _select_one(db)
            failures.append(database_unavailable(caught.value))
        assert failures == [True] * 5 and db.unreachable
        waiting = asyncio.create_task(db.wait_until_reachable(poll_s=0.2))
        await asyncio.to_thread(own_postgres.start)
        assert await asyncio.wait_for(waiting, timeout=30)
        assert await _select_one(db) == 1 and not db.unreachable
    finally:
        await db.dispose()
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.storage.database"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("database unreachable") and lines[1].startswith("database reconnected")


async def test_a_missing_database_is_no_outage(database_kind: str, own_postgres: LocalPostgres) -> None:
    db = Database(own_postgres.url("no_such_database"))
    try:
        with pytest.raises(Exception) as caught:
            await _select_one(db)
        assert not database_unavailable(caught.value) and not db.unreachable
    finally:
        await db.dispose()


async def test_the_instance_lock_is_taken_again_after_a_restart(
    database_kind: str, own_postgres: LocalPostgres
) -> None:
    await own_postgres.create_database("outage_lock")
    url = own_postgres.url("outage_lock")
    running, second = Database(url), Database(url)
    lock = InstanceLock(running)
    await lock.acquire()
    try:
        await asyncio.to_thread(own_postgres.restart)
        # The restart ended the session holding the lock: nothing would stop a second bot.
        await lock.keep()
        with pytest.raises(AlreadyRunning):
            await InstanceLock(second).acquire()
        await lock.keep()  # holding it: nothing to do
    finally:
        await lock.release()
        await running.dispose()
        await second.dispose()


class Reminder:
    """A job handler: counts its calls; the first ``outages`` calls meet an outage."""

    def __init__(self, outages: int = 0) -> None:
        self.calls = 0
        self.outages = outages
        self.done = asyncio.Event()

    async def __call__(self, job_id: str, payload: dict[str, object]) -> None:
        self.calls += 1
        if self.calls <= self.outages:
            raise DatabaseUnavailable("the server went away while the job ran")
        self.done.set()


async def _job_status(db: Database, job_id: str) -> str:
    async with db.session() as session:
        row = await session.get(ScheduledJob, job_id)
        assert row is not None
        return row.status


async def _wait_status(db: Database, job_id: str, wanted: str, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (status := await _job_status(db, job_id)) != wanted:
        assert asyncio.get_running_loop().time() < deadline, f"{job_id} is {status}, not {wanted}"
        await asyncio.sleep(0.05)


async def test_a_job_due_while_the_server_is_down_runs_once_when_it_is_back(
    database_kind: str, own_postgres: LocalPostgres
) -> None:
    await own_postgres.create_database("outage_job")
    db = Database(own_postgres.url("outage_job"))
    await migrate(db)
    handler = Reminder()
    service = SchedulerService(db, SystemClock(), "Europe/Amsterdam")
    service.register("test:remind", handler)
    await service.start()
    try:
        run_at = datetime.now(UTC) + timedelta(seconds=1)
        await service.schedule_once("test:remind:1", "test:remind", run_at, {})
        await asyncio.to_thread(own_postgres.stop, remove=False)
        # Nothing else here uses the database: it is the wake-up that meets the outage.
        for _ in range(200):
            if db.unreachable:
                break
            await asyncio.sleep(0.05)
        assert db.unreachable and handler.calls == 0
        await asyncio.to_thread(own_postgres.start)
        await asyncio.wait_for(handler.done.wait(), timeout=30)
        await _wait_status(db, "test:remind:1", "done")
        assert handler.calls == 1
    finally:
        await service.shutdown()
        await db.dispose()


async def test_a_job_cut_off_by_an_outage_runs_again(database_kind: str, own_postgres: LocalPostgres) -> None:
    await own_postgres.create_database("outage_cut")
    db = Database(own_postgres.url("outage_cut"))
    await migrate(db)
    handler = Reminder(outages=1)
    service = SchedulerService(db, SystemClock(), "Europe/Amsterdam")
    service.register("test:remind", handler)
    await service.start()
    try:
        await service.schedule_once("test:remind:2", "test:remind", datetime.now(UTC) + timedelta(seconds=0.5), {})
        await asyncio.wait_for(handler.done.wait(), timeout=30)
        await _wait_status(db, "test:remind:2", "done")
        # Claimed, cut off, put back to pending and run again: not recorded as a failure.
        assert handler.calls == 2
        async with db.session() as session:
            row = await session.get(ScheduledJob, "test:remind:2")
            assert row is not None and row.note is None
    finally:
        await service.shutdown()
        await db.dispose()
