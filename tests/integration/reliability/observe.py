"""What members see, read from the room history rather than from one member's sync.

A member's sync is limited to the last 10 events per room and can skip a burst of
replies; ``/messages`` returns everything in the room, duplicates included. So
"answered exactly once, in order" is judged from the history: the bot's notices and
the event each one answers (``m.relates_to.m.in_reply_to``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nio import MessageDirection, RoomMessagesResponse

from tests.integration.conftest import Member

_PAGE = 100
_MAX_PAGES = 30
_MESSAGE_FILTER = {"types": ["m.room.message"]}


def in_reply_to(source: dict[str, Any]) -> str | None:
    rel = source.get("content", {}).get("m.relates_to") or {}
    target = (rel.get("m.in_reply_to") or {}).get("event_id")
    return target if isinstance(target, str) else None


def body_of(source: dict[str, Any]) -> str:
    body = source.get("content", {}).get("body")
    return body if isinstance(body, str) else ""


async def room_history(member: Member, room_id: str) -> list[dict[str, Any]]:
    """Every ``m.room.message`` in the room, oldest first (up to 3,000)."""
    newest_first: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(_MAX_PAGES):
        resp = await member.client.room_messages(
            room_id, start=token, direction=MessageDirection.back, limit=_PAGE, message_filter=_MESSAGE_FILTER
        )
        if not isinstance(resp, RoomMessagesResponse):
            raise AssertionError(f"reading the history of {room_id} failed: {resp}")
        newest_first.extend(event.source for event in resp.chunk)
        if not resp.chunk or not resp.end or resp.end == token:
            break
        token = resp.end
    newest_first.reverse()
    return newest_first


async def bot_messages(member: Member, room_id: str, bot_user: str) -> list[dict[str, Any]]:
    return [s for s in await room_history(member, room_id) if s.get("sender") == bot_user]


def replies_by_target(messages: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The bot's messages grouped by the event they answer."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for source in messages:
        target = in_reply_to(source)
        if target is not None:
            grouped[target].append(source)
    return grouped


async def wait_for_replies(
    member: Member,
    rooms: Iterable[str],
    bot_user: str,
    targets: Iterable[str],
    timeout: float,
    interval: float = 0.5,
) -> dict[str, list[dict[str, Any]]]:
    """Poll the histories of ``rooms`` until every event in ``targets`` has a reply.

    Returns the replies per target; raises with the missing count after ``timeout``.
    """
    wanted = set(targets)
    room_list = list(rooms)
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for room in room_list:
            for target, replies in replies_by_target(await bot_messages(member, room, bot_user)).items():
                found[target].extend(replies)
        missing = [t for t in wanted if not found.get(t)]
        if not missing:
            return dict(found)
        if time.monotonic() > deadline:
            raise AssertionError(
                f"after {timeout:.0f}s, {len(missing)} of {len(wanted)} commands had no answer"
            )
        await asyncio.sleep(interval)


async def send_and_wait_reply(
    member: Member, room_id: str, body: str, bot_user: str, timeout: float
) -> tuple[str, dict[str, Any], float]:
    """Send a command; return (event id, the bot's reply, seconds from send to the reply
    appearing in the room history)."""
    sent_at = time.monotonic()
    event_id = await member.send(room_id, body)
    replies = await wait_for_replies(member, [room_id], bot_user, [event_id], timeout, interval=0.2)
    return event_id, replies[event_id][0], time.monotonic() - sent_at


def server_seconds_after(source: dict[str, Any], moment: float) -> float:
    """Seconds between a wall-clock ``moment`` and the event's ``origin_server_ts``."""
    return float(source.get("origin_server_ts", 0)) / 1000.0 - moment


async def open_direct_chat(member: Member, bot_user: str, timeout: float = 20) -> str:
    """A new direct chat with the bot; returns once the bot has joined it."""
    created = await member.client.room_create(is_direct=True, invite=[bot_user])
    room_id = getattr(created, "room_id", None)
    assert isinstance(room_id, str), created
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        joined = await member.client.joined_members(room_id)
        if bot_user in [m.user_id for m in getattr(joined, "members", [])]:
            return room_id
        await asyncio.sleep(0.2)
    raise AssertionError(f"the bot did not join the direct chat within {timeout:.0f}s")


def _read_only(database: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{database}?mode=ro", uri=True)


def outbox_rows(database: Path) -> list[tuple[str, str, int, str | None]]:
    """The bot's outbox (txn id, status, attempts, reason) in sending order, read-only."""
    with contextlib.closing(_read_only(database)) as conn:
        return conn.execute(
            "SELECT txn_id, status, attempts, reason FROM core_outbox ORDER BY due_at, id"
        ).fetchall()


async def wait_outbox_settled(
    database: Path, txn_prefix: str, count: int, timeout: float, interval: float = 0.5
) -> list[tuple[str, str, int, str | None]]:
    """Poll the bot's database until ``count`` outbox rows whose transaction id starts
    with ``txn_prefix`` exist and none of them is pending; returns those rows.

    The "no more" condition for scheduled messages, instead of sleeping for a double:
    a row leaves ``pending`` only once its send returned (or it was refused for good),
    and a row no longer pending is never sent again. So past this point everything
    those rows will ever send is in the room's history.
    """
    deadline = time.monotonic() + timeout
    while True:
        rows = [row for row in outbox_rows(database) if row[0].startswith(txn_prefix)]
        if len(rows) >= count and all(status != "pending" for _, status, _, _ in rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout:.0f}s the outbox still owes: {rows}")
        await asyncio.sleep(interval)


async def wait_claimed(database: Path, event_id: str, timeout: float, interval: float = 0.1) -> None:
    """Poll the bot's database until it has claimed ``event_id`` (begun handling it)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.closing(_read_only(database)) as conn:
            found = conn.execute(
                "SELECT 1 FROM core_processed_events WHERE event_id = ?", (event_id,)
            ).fetchone()
        if found:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the bot did not take up {event_id} within {timeout:.0f}s")
        await asyncio.sleep(interval)
