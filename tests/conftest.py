"""Shared fixtures: a real app (real database file, real catalogues, real router)
behind a recording transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import App, build_app
from bot.clock import FakeClock
from bot.ids import RoomId
from bot.storage import Base, Database
from tests.fakes import FakeTransport, make_config


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A real SQLite file with every table, for tests of one service."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2027, 3, 16, 9, 0, tzinfo=UTC))


@pytest.fixture
async def app(tmp_path: Path, clock: FakeClock) -> AsyncIterator[App]:
    config = make_config(tmp_path)
    built = await build_app(config, clock=clock, transport_factory=FakeTransport)
    built.services.rooms.set("welcome", RoomId("!welcome"))
    built.services.rooms.set("events", RoomId("!events"))
    built.services.rooms.set("theme:buikpijndossiers", RoomId("!buikpijn"))
    yield built
    await built.stop()


@pytest.fixture
def transport(app: App) -> FakeTransport:
    assert isinstance(app.transport, FakeTransport)
    return app.transport
