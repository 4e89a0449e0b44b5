"""The health report's judgement, and one bot per database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.clock import FakeClock
from bot.health import Heartbeat, read_health
from bot.storage import Database
from bot.storage.lock import AlreadyRunning, InstanceLock
from bot.storage.migrate import migrate

pytestmark = pytest.mark.both_databases


async def _migrated(db_url: str) -> Database:
    db = Database(db_url)
    await migrate(db)
    return db


async def test_fresh_heartbeat_is_healthy_and_a_stall_is_not(db_url: str, clock: FakeClock) -> None:
    db = await _migrated(db_url)
    synced = clock.now()
    beat = Heartbeat(db, clock, lambda: synced, lambda: True)
    await beat.beat()
    report = await read_health(db, clock)
    assert report.healthy and report.last_sync_age_s == 0 and report.database
    # The process keeps beating but the sync has stalled: unhealthy within two minutes.
    clock.advance(timedelta(seconds=121))
    await beat.beat()
    report = await read_health(db, clock)
    assert not report.healthy and "last successful sync 121 s ago" in report.problems[0]
    # The process is gone: its heartbeat stops.
    clock.advance(timedelta(seconds=100))
    report = await read_health(db, clock)
    assert any("no heartbeat" in p for p in report.problems)
    await db.dispose()


async def test_stopped_scheduler_is_unhealthy(db_url: str, clock: FakeClock) -> None:
    db = await _migrated(db_url)
    await Heartbeat(db, clock, clock.now, lambda: False).beat()
    report = await read_health(db, clock)
    assert not report.healthy and report.problems == ["the scheduler is not running"]
    await db.dispose()


async def test_second_instance_refuses(db_url: str) -> None:
    first_db = Database(db_url)
    second_db = Database(db_url)
    first, second = InstanceLock(first_db), InstanceLock(second_db)
    await first.acquire()
    with pytest.raises(AlreadyRunning, match="already running") as refused:
        await second.acquire()
    # SQLite's lock file names the holder; PostgreSQL's advisory lock has no such note.
    assert ("pid" if first_db.is_sqlite else "advisory lock") in str(refused.value)
    await first.release()
    await second.acquire()  # free again once the first stopped
    await second.release()
    await first_db.dispose()
    await second_db.dispose()
