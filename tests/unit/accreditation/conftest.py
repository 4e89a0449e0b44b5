"""The accreditation feature's app: real router and database file, a recording
transport (events and accreditation both loaded, as in a real community)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.clock import FakeClock
from tests.fakes import quick_app


@pytest.fixture
async def app(tmp_path: Path, clock: FakeClock, db_url: str) -> AsyncIterator[App]:
    built = await quick_app(tmp_path, clock, db_url, {"welcome": "!welcome", "events": "!events"})
    yield built
    await built.stop()
