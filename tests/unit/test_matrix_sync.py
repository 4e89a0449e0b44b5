"""The sync loop's backoff against a homeserver that misbehaves on purpose.

A tiny aiohttp server plays the homeserver: it answers ``whoami`` and ``m.direct``
normally and ``/sync`` however the test wants (502, 429, 401, or a real batch).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from bot.clock import SystemClock
from bot.config import Config, parse_config
from bot.devtools.synapse import free_port
from bot.errors import InvalidCredentials
from bot.matrix import MatrixTransport
from bot.matrix.retry import Backoff
from bot.rooms import RoomDirectory
from bot.storage.database import Database
from bot.storage.models import Base

BOT = "@kennisbrug:localhost"
EMPTY_SYNC: dict[str, Any] = {
    "next_batch": "s1",
    "rooms": {"join": {}, "invite": {}, "leave": {}},
    "to_device": {"events": []},
    "presence": {"events": []},
    "account_data": {"events": []},
    "device_one_time_keys_count": {},
    "device_lists": {"changed": [], "left": []},
}


class FakeHomeserver:
    def __init__(self) -> None:
        self.mode = "ok"
        self.sync_times: list[float] = []
        self.port = free_port()
        app = web.Application()
        app.router.add_get("/_matrix/client/v3/account/whoami", self.whoami)
        app.router.add_get("/_matrix/client/v3/user/{user}/account_data/m.direct", self.no_direct)
        app.router.add_get("/_matrix/client/v3/sync", self.sync)
        self.runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def whoami(self, request: web.Request) -> web.Response:
        return web.json_response({"user_id": BOT, "device_id": "DEVICE"})

    async def no_direct(self, request: web.Request) -> web.Response:
        return web.json_response({"errcode": "M_NOT_FOUND", "error": "no m.direct"}, status=404)

    async def sync(self, request: web.Request) -> web.Response:
        self.sync_times.append(time.monotonic())
        if self.mode == "502":
            return web.Response(status=502, text="<html>Bad Gateway</html>", content_type="text/html")
        if self.mode == "429":
            return web.json_response(
                {"errcode": "M_LIMIT_EXCEEDED", "error": "slow down", "retry_after_ms": 1500}, status=429
            )
        if self.mode == "401":
            return web.json_response({"errcode": "M_UNKNOWN_TOKEN", "error": "gone"}, status=401)
        if request.query.get("since"):
            await asyncio.sleep(int(request.query.get("timeout", "1000")) / 1000)
        return web.json_response(EMPTY_SYNC)


@pytest_asyncio.fixture
async def homeserver() -> AsyncIterator[FakeHomeserver]:
    server = FakeHomeserver()
    await server.runner.setup()
    await web.TCPSite(server.runner, "127.0.0.1", server.port).start()
    yield server
    await server.runner.cleanup()


@pytest_asyncio.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield database
    await database.dispose()


def config_for(server: FakeHomeserver, **matrix: Any) -> Config:
    raw = {
        "matrix": {
            "homeserver": server.base_url,
            "user_id": BOT,
            "access_token": "syt_test",
            "sync_timeout_ms": 1000,
            "encryption": False,  # the fake homeserver has no key endpoints
            **matrix,
        },
        "community": {},
        "rooms": {"welcome": "#welkom:localhost"},
    }
    return parse_config(raw, Path("test.yaml"), env={})


async def started(
    server: FakeHomeserver, db: Database, **matrix: Any
) -> tuple[MatrixTransport, asyncio.Task[None]]:
    transport = MatrixTransport(config_for(server, **matrix), db, SystemClock(), RoomDirectory())
    await transport.connect()

    async def ignore(event: object) -> None:
        return None

    return transport, asyncio.create_task(transport.run(ignore))


def test_default_backoff_numbers() -> None:
    backoff = Backoff(0.5, 5.0)
    waits = [backoff.next() for _ in range(8)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0]
    # Requests against an erroring homeserver in the first 10 s: t = 0, 0.5, 1.5, 3.5, 7.5.
    elapsed, requests = 0.0, 1
    for wait in waits:
        elapsed += wait
        if elapsed > 10:
            break
        requests += 1
    assert requests <= 10
    backoff.reset()
    assert backoff.next() == 0.5


async def test_502s_are_backed_off_and_the_bot_is_back_soon_after(
    homeserver: FakeHomeserver, db: Database
) -> None:
    homeserver.mode = "502"
    transport, task = await started(homeserver, db, max_retry_wait_s=1.0)
    try:
        await asyncio.sleep(2.5)
        assert 2 <= len(homeserver.sync_times) <= 5  # 0, 0.5, 1.5, 2.5: not thousands
        assert transport.last_sync_ok is None
        homeserver.mode = "ok"
        recovered = time.monotonic()
        await transport.wait_until_synced(timeout=3)
        assert time.monotonic() - recovered <= 1.5  # within the (test) cap of 1 s
        assert transport.last_sync_ok is not None
    finally:
        await transport.stop()
        await asyncio.wait_for(task, 5)


async def test_429_waits_for_retry_after(homeserver: FakeHomeserver, db: Database) -> None:
    homeserver.mode = "429"
    transport, task = await started(homeserver, db)
    try:
        await asyncio.sleep(0.2)
        homeserver.mode = "ok"
        await transport.wait_until_synced(timeout=5)
        assert homeserver.sync_times[1] - homeserver.sync_times[0] >= 1.4
    finally:
        await transport.stop()
        await asyncio.wait_for(task, 5)


async def test_unknown_token_during_sync_stops_the_loop(homeserver: FakeHomeserver, db: Database) -> None:
    homeserver.mode = "401"
    transport, task = await started(homeserver, db)
    with pytest.raises(InvalidCredentials):
        await asyncio.wait_for(task, 5)
    assert len(homeserver.sync_times) == 1
    await transport.stop()


async def test_stop_ends_a_waiting_sync_at_once(homeserver: FakeHomeserver, db: Database) -> None:
    transport, task = await started(homeserver, db, sync_timeout_ms=30_000)
    await transport.wait_until_synced(timeout=5)
    await asyncio.sleep(0.2)  # now inside a long poll
    begun = time.monotonic()
    await transport.stop()
    await asyncio.wait_for(task, 5)
    assert time.monotonic() - begun < 1.0
