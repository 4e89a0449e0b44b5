"""Point 1: no message is lost while the bot is down.

The bot process is killed (SIGKILL); members send 25 commands in two rooms, more than
10 per room (Synapse's default timeline limit, and the bot's smallest allowed
``timeline_limit``, so the sync after the restart comes back ``limited`` and the gap
has to be filled from the room history). After the restart every command is answered
exactly once, in the order it was sent in its room.

Two members send the 25 commands in a burst of about a second. Had the bot been up,
flood control (point 8) would have slowed them down; a backlog that waited for the bot
is not a flood, and every command in it is answered.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Member, barrier
from tests.integration.reliability.conftest import Homeserver, reliability_config
from tests.integration.reliability.faults import BotProcess
from tests.integration.reliability.observe import (
    bot_messages,
    in_reply_to,
    replies_by_target,
    send_and_wait_reply,
    wait_for_replies,
)

pytestmark = pytest.mark.integration

COMMANDS = 25


async def test_no_command_is_lost_while_the_bot_is_down(
    shared_homeserver: Homeserver,
    bot_processes: Callable[..., BotProcess],
    members_on: Callable[[Homeserver, str], Awaitable[Member]],
    tmp_path: Path,
    tag: str,
) -> None:
    server = shared_homeserver
    config = reliability_config(server, tmp_path, tag)
    config["matrix"]["timeline_limit"] = 10
    bot = bot_processes(config)
    await bot.start()
    bob = await members_on(server, "bob")
    carol = await members_on(server, "carol")
    rooms = [await bob.join(config["rooms"]["welcome"]), await bob.join(config["rooms"]["questions"])]
    for room in rooms:
        await carol.join(room)
    senders = [bob, carol]
    for room in rooms:
        await send_and_wait_reply(bob, room, "!taal", server.bot_user, timeout=30)  # it listens

    assert await bot.kill() is not None
    sent: dict[str, list[str]] = {room: [] for room in rooms}
    for i in range(COMMANDS):
        room = rooms[i % 2]  # 13 in the first room, 12 in the second
        sent[room].append(await senders[(i // 2) % 2].send(room, "!taal"))  # both in both rooms
    assert min(len(events) for events in sent.values()) > 10

    restarted = time.monotonic()
    await bot.start(wait=False)
    every_command = [event for events in sent.values() for event in events]
    await wait_for_replies(bob, rooms, server.bot_user, every_command, timeout=120)
    elapsed = time.monotonic() - restarted

    for room in rooms:
        await barrier(bob, room)  # answered after every earlier command here, doubles included
    doubles = 0
    for room in rooms:
        messages = await bot_messages(bob, room, server.bot_user)
        grouped = replies_by_target(messages)
        counts = {event: len(grouped.get(event, [])) for event in sent[room]}
        doubles += sum(n - 1 for n in counts.values() if n > 1)
        assert all(n == 1 for n in counts.values()), f"answers per command in {room}: {counts}"
        answered_order = [in_reply_to(m) for m in messages if in_reply_to(m) in set(sent[room])]
        assert answered_order == sent[room], "answers came out of order"
    assert bot.running, bot.log_tail()
    print(
        f"\n[point 1] answered {len(every_command)}/{COMMANDS} commands sent while the bot was down "
        f"in {elapsed:.1f} s after the restart (process start to last answer); "
        f"{', '.join(str(len(sent[r])) for r in rooms)} per room, order kept, {doubles} doubles"
    )
