"""A PostgreSQL server that restarts under the bot: what the database layer does.

The server is this module's own (the session's shared one is never stopped). The bot's
end-to-end behaviour is ``tests/integration/reliability/test_postgres_restart.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from bot.devtools.postgres import LocalPostgres, PostgresUnavailable
from bot.storage import Database
from bot.storage.database import database_unavailable
from bot.storage.lock import AlreadyRunning, InstanceLock

pytestmark = pytest.mark.postgresql_only


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[LocalPostgres]:
    try:
        server = LocalPostgres()
        server.start()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL not available ({exc})")
    try:
        yield server
    finally:
        server.stop()


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
