"""The events feature's app: real router and database file, a recording transport, and
flood control opened wide (these members answer quickly)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App, build_app
from bot.clock import FakeClock
from bot.ids import RoomId
from tests.fakes import FakeTransport, make_config


@pytest.fixture
async def app(tmp_path: Path, clock: FakeClock, db_url: str) -> AsyncIterator[App]:
    config = make_config(tmp_path, database={"url": db_url}, flood={"burst": 10_000, "seconds_per_command": 0.001})
    built = await build_app(config, clock=clock, transport_factory=FakeTransport)
    for name, room in (
        ("welcome", "!welcome"),
        ("events", "!events"),
        ("theme:buikpijndossiers", "!buikpijn"),
    ):
        built.services.rooms.set(name, RoomId(room))
    yield built
    await built.stop()
