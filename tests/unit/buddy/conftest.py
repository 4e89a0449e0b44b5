"""The app for buddy tests: flood control open, nudges at any hour."""

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
    config = make_config(
        tmp_path,
        database={"url": db_url},
        flood={"burst": 10_000, "seconds_per_command": 0.001},
        nudges={"weekly_budget": 10, "quiet_hours": "00:00-00:00", "quiet_weekends": False},
    )
    built = await build_app(config, clock=clock, transport_factory=FakeTransport)
    built.services.rooms.set("welcome", RoomId("!welcome"))
    yield built
    await built.stop()
