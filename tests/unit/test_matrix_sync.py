"""The sync loop's backoff against a homeserver that misbehaves on purpose.

A tiny aiohttp server plays the homeserver: it answers ``whoami`` and ``m.direct``
normally and ``/sync`` however the test wants (502, 429, 401, or a real batch).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from sqlalchemy import select

from bot.clock import SystemClock
from bot.config import Config, parse_config
from bot.devtools.synapse import free_port
from bot.errors import InvalidCredentials
from bot.ids import RoomId
from bot.matrix import MatrixTransport
from bot.matrix.homeserver_calls import Backoff
from bot.room_directory import RoomDirectory
from bot.storage.database import Database
from bot.storage.models import Base, SeenReaction
from bot.transport import IncomingReaction

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
        self.sync_queries: list[dict[str, str]] = []
        # Timelines handed out one per /sync (room id -> events), then empty batches.
        self.batches: list[dict[str, list[dict[str, Any]]]] = []
        # What GET /rooms/{room}/event/{id} knows: event id -> sender (others: 404).
        self.senders: dict[str, str] = {}
        self.event_lookups: list[str] = []
        self.port = free_port()
        app = web.Application()
        app.router.add_get("/_matrix/client/v3/account/whoami", self.whoami)
        app.router.add_get("/_matrix/client/v3/user/{user}/account_data/m.direct", self.no_direct)
        app.router.add_get("/_matrix/client/v3/sync", self.sync)
        app.router.add_get("/_matrix/client/v3/rooms/{room}/event/{event}", self.event)
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
        self.sync_queries.append(dict(request.query))
        if self.mode == "502":
            return web.Response(status=502, text="<html>Bad Gateway</html>", content_type="text/html")
        if self.mode == "429":
            return web.json_response(
                {"errcode": "M_LIMIT_EXCEEDED", "error": "slow down", "retry_after_ms": 1500}, status=429
            )
        if self.mode == "401":
            return web.json_response({"errcode": "M_UNKNOWN_TOKEN", "error": "gone"}, status=401)
        if self.batches:
            timelines = self.batches.pop(0)
            rooms = {
                room: {
                    "timeline": {"events": events, "limited": False, "prev_batch": "p0"},
                    "state": {"events": []},
                }
                for room, events in timelines.items()
            }
            return web.json_response(
                {
                    **EMPTY_SYNC,
                    "next_batch": f"s{len(self.sync_times)}",
                    "rooms": {**EMPTY_SYNC["rooms"], "join": rooms},
                }
            )
        if request.query.get("since"):
            await asyncio.sleep(int(request.query.get("timeout", "1000")) / 1000)
        return web.json_response(EMPTY_SYNC)

    async def event(self, request: web.Request) -> web.Response:
        event_id = request.match_info["event"]
        self.event_lookups.append(event_id)
        sender = self.senders.get(event_id)
        if sender is None:
            return web.json_response({"errcode": "M_NOT_FOUND", "error": "no such event"}, status=404)
        return web.json_response(
            {
                "event_id": event_id,
                "room_id": request.match_info["room"],
                "sender": sender,
                "type": "m.room.message",
                "origin_server_ts": 1,
                "content": {"msgtype": "m.notice", "body": "a card"},
            }
        )


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


async def test_a_restart_resumes_with_an_incremental_lazy_sync(
    homeserver: FakeHomeserver, db: Database
) -> None:
    """Not the full state of every room again: with thousands of DMs that made a restart
    as slow as a fresh login."""
    homeserver.batches = [{"!room:localhost": []}]
    transport, task = await started(homeserver, db)
    await transport.wait_until_synced(timeout=5)
    await transport.stop()
    await asyncio.wait_for(task, 5)
    first_run = len(homeserver.sync_queries)
    transport, task = await started(homeserver, db)
    try:
        await transport.wait_until_synced(timeout=5)
    finally:
        await transport.stop()
        await asyncio.wait_for(task, 5)
    resumed = homeserver.sync_queries[first_run]
    assert resumed.get("since") == "s1"
    assert "full_state" not in resumed
    assert resumed.get("timeout") == "1", "the catch-up answers at once, even in a quiet community"
    assert homeserver.sync_queries[first_run + 1].get("timeout") == "1000", "then the long poll"
    sync_filter = json.loads(resumed["filter"])
    assert sync_filter["room"]["state"]["lazy_load_members"] is True


def _event(event_id: str, sender: str, type_: str, content: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "sender": sender,
        "type": type_,
        "origin_server_ts": int(time.time() * 1000) + 1000,
        "content": content,
        **extra,
    }


def _reaction(event_id: str, target: str) -> dict[str, Any]:
    content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "✅"}}
    return _event(event_id, MEMBER, "m.reaction", content)


MEMBER = "@anna:localhost"
ROOM = "!events:localhost"


async def test_only_reactions_on_the_bots_own_events_are_remembered_for_withdrawal(
    homeserver: FakeHomeserver, db: Database
) -> None:
    homeserver.senders = {"$old-card": BOT, "$chat": MEMBER}
    homeserver.batches = [
        {
            ROOM: [
                _event("$card", BOT, "m.room.message", {"msgtype": "m.notice", "body": "Nieuwe bijeenkomst"}),
                _event("$hello", MEMBER, "m.room.message", {"msgtype": "m.text", "body": "hallo"}),
                _reaction("$on-card", "$card"),  # the bot's event, seen in this timeline
                _reaction("$on-hello", "$hello"),  # a member's event, seen in this timeline
                _reaction("$on-old-card", "$old-card"),  # the bot's, from long ago: asked once
                _reaction("$on-chat", "$chat"),  # a member's, from long ago: asked once
                _reaction("$on-chat-again", "$chat"),  # known by now
                _reaction("$on-gone", "$gone"),  # the homeserver does not know it
            ]
        },
        {
            ROOM: [
                _event(f"$undo-{target}", MEMBER, "m.room.redaction", {"redacts": target}, redacts=target)
                for target in ("$on-card", "$on-hello", "$on-old-card", "$on-chat")
            ]
        },
    ]
    seen: list[object] = []
    directory = RoomDirectory()
    directory.set("events", RoomId(ROOM))
    transport = MatrixTransport(config_for(homeserver), db, SystemClock(), directory)
    await transport.connect()

    async def record(event: object) -> None:
        seen.append(event)

    task = asyncio.create_task(transport.run(record))
    try:
        for _ in range(100):
            if (
                sum(isinstance(e, IncomingReaction) and e.removed for e in seen) >= 2
                and not homeserver.batches
            ):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
    finally:
        await transport.stop()
        await asyncio.wait_for(task, 5)
    added = [e.event_id for e in seen if isinstance(e, IncomingReaction) and not e.removed]
    withdrawn = [e.target_event_id for e in seen if isinstance(e, IncomingReaction) and e.removed]
    # Every reaction still reaches the features; only those on the bot's events are kept.
    assert len(added) == 6
    assert withdrawn == ["$card", "$old-card"]
    async with db.session() as session:
        kept = set((await session.scalars(select(SeenReaction.event_id))).all())
    assert kept == {"$on-card", "$on-old-card"}
    assert sorted(homeserver.event_lookups) == ["$chat", "$gone", "$old-card"]
