"""The organisers' web page's app (real router and database file, a recording
transport, the web section switched on) and a test client on its aiohttp application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import App
from bot.clock import FakeClock
from commands.organiser_web.feature import OrganiserWebFeature
from tests.fakes import quick_app


@pytest.fixture
async def app(tmp_path: Path, clock: FakeClock, db_url: str) -> AsyncIterator[App]:
    built = await quick_app(
        tmp_path,
        clock,
        db_url,
        {"welcome": "!welcome", "events": "!events"},
        web={"listen": "127.0.0.1:8087", "public_url": "http://web.test"},
    )
    yield built
    await built.stop()


@pytest.fixture
async def client(app: App) -> AsyncIterator[TestClient]:
    feature = next(f for f in app.features if isinstance(f, OrganiserWebFeature))
    async with TestClient(TestServer(feature.web.application())) as test_client:
        yield test_client
