"""A DM is exactly the bot and one member (real homeserver).

Private messages (an export, reminders, offers) must never land in a room a third
person has entered, and a "direct" invite into a room with others is no DM.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from nio import RoomCreateResponse, RoomMessageFile

from tests.integration.conftest import SERVER, BotRunner, Member, open_dm

pytestmark = pytest.mark.integration

BOT = f"@kennisbrug:{SERVER}"


async def _membership(member: Member, room_id: str, user_id: str) -> str | None:
    resp = await member.client.room_get_state_event(room_id, "m.room.member", user_id)
    content = getattr(resp, "content", None)
    return content.get("membership") if isinstance(content, dict) else None


async def _until(probe: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await probe():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


async def test_a_dm_that_others_joined_is_left_and_private_messages_go_to_a_new_one(
    bot: BotRunner, member_factory: Any, tag: str
) -> None:
    bob = await member_factory("bob")
    carol = await member_factory("carol")
    old_dm = await open_dm(bob, BOT)
    assert "help" in (await bob.ask(old_dm, "!help")).body.lower()
    # Bob brings Carol into what the bot knows as his DM.
    await bob.client.room_invite(old_dm, carol.user_id)
    await carol.join(old_dm)
    welcome = await bob.join(f"#welkom-{tag}:{SERVER}")
    # Asked in a room, the export goes to Bob's DM: not the room Carol is in.
    await bob.ask(welcome, "!mijngegevens")
    await _until(lambda: _is_left(bob, old_dm))
    new_dm = await _new_dm_of(bob, old_dm)
    assert new_dm != old_dm
    await bob.join(new_dm)
    # The new DM is encrypted (a private room): Bob's plain test client sees the bot's
    # messages there as encrypted events; that they arrive there is what counts.
    arrived = await bob.wait_for(lambda room, e: room == new_dm and getattr(e, "sender", "") == BOT, timeout=20)
    assert arrived
    await carol.sync_once(500)
    assert not [e for room, e in carol.seen if room == old_dm and isinstance(e, RoomMessageFile)]


async def _is_left(member: Member, room_id: str) -> bool:
    return await _membership(member, room_id, BOT) == "leave"


async def _new_dm_of(member: Member, old_dm: str, timeout: float = 20) -> str:
    """The room the bot invited the member to after leaving the old one (the new DM)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for room_id in member.client.invited_rooms:
            if room_id != old_dm:
                return str(room_id)
        await member.sync_once(1000)
    raise AssertionError("the bot opened no new direct chat")


async def test_a_direct_invite_into_a_room_with_others_is_not_taken_as_a_dm(
    bot: BotRunner, member_factory: Any
) -> None:
    bob = await member_factory("bob")
    carol = await member_factory("carol")
    created = await bob.client.room_create(is_direct=True, invite=[BOT, carol.user_id])
    assert isinstance(created, RoomCreateResponse), created
    crowded = created.room_id
    await carol.join(crowded)
    # The bot looks, sees a third person, and leaves without answering anything there.
    await _until(lambda: _is_left(bob, crowded))
    assert bot.app is not None
    recorded = await bot.app.services.transport.direct_room(bob.user_id)  # type: ignore[arg-type]
    assert recorded != crowded
