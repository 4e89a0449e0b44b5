"""The app for buddy tests: flood control open, nudges at any hour."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.clock import FakeClock
from tests.fakes import ANY_HOUR_NUDGES, quick_app


@pytest.fixture
async def app(tmp_path: Path, clock: FakeClock, db_url: str) -> AsyncIterator[App]:
    built = await quick_app(tmp_path, clock, db_url, {"welcome": "!welcome"}, nudges=ANY_HOUR_NUDGES)
    yield built
    await built.stop()
