"""Point 2: a crash mid-command is neither lost nor doubled.

The test feature's ``!crashtest`` kills the process (``os._exit(137)``) the first time
it runs: before its reply (the command was claimed but not answered) or right after
the reply went out (answered, but not yet recorded as handled). The restarted bot
answers the command exactly once either way.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Member, barrier
from tests.integration.reliability.conftest import Homeserver, reliability_config
from tests.integration.reliability.faults import EXIT_CRASH, BotProcess
from tests.integration.reliability.observe import (
    body_of,
    bot_messages,
    replies_by_target,
    send_and_wait_reply,
    wait_for_replies,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", ["before", "after"], ids=["dies-before-reply", "dies-after-reply"])
async def test_a_crash_mid_command_is_answered_once(
    mode: str,
    shared_homeserver: Homeserver,
    bot_processes: Callable[..., BotProcess],
    members_on: Callable[[Homeserver, str], Awaitable[Member]],
    tmp_path: Path,
    tag: str,
) -> None:
    server = shared_homeserver
    marker = tmp_path / "crashed.marker"
    config = reliability_config(server, tmp_path, tag, crash_test={"marker": str(marker), "mode": mode})
    bot = bot_processes(config)
    await bot.start()
    bob = await members_on(server, "bob")
    room = await bob.join(config["rooms"]["welcome"])
    await send_and_wait_reply(bob, room, "!taal", server.bot_user, timeout=30)

    command = await bob.send(room, f"!crashtest {tag}")
    code = await bot.wait_exit(30)
    assert code == EXIT_CRASH, f"expected the crash feature to end the process, got {code}:\n{bot.log_tail()}"
    assert marker.exists()
    before_restart = len(replies_by_target(await bot_messages(bob, room, server.bot_user)).get(command, []))
    assert before_restart == (1 if mode == "after" else 0)

    restarted = time.monotonic()
    await bot.start(wait=False)
    await wait_for_replies(bob, [room], server.bot_user, [command], timeout=60)
    answered_after = time.monotonic() - restarted
    # A fresh command answered means the replayed batch is behind us (a room's events are
    # handled in order): a double of the replayed answer would be in the history now.
    await bot.wait_started(60)
    await barrier(bob, room)
    replies = replies_by_target(await bot_messages(bob, room, server.bot_user)).get(command, [])
    assert len(replies) == 1, [body_of(r) for r in replies]
    assert body_of(replies[0]) == f"crashtest {tag}"
    assert bot.running, bot.log_tail()
    replay_lines = [line for line in bot.run_log().splitlines() if "again" in line or "interrupted" in line]
    what = (
        f"answered once, {answered_after:.1f} s after the restart"
        if mode == "before"
        else "the reply sent just before the crash is still the only one after the replay"
    )
    replay = f"; bot log: {replay_lines[0].split(': ', 1)[-1]}" if replay_lines else ""
    print(f"\n[point 2, dies {mode} the reply] exit {code}; {what}{replay}")
