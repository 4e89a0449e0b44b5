"""Nothing lost, nothing doubled, in an encrypted DM (issue 9 on top of issue 3).

The bot runs as a real process (``run_bot.py run``) and is killed with SIGKILL or
ends itself mid-command; the member is an encrypted matrix-nio client. Every command
must be answered exactly once after the restart, and every answer must be readable:
a restart must lose no key (device, Olm account and room keys come back from the
store and the database).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nio import RoomMessageNotice

from tests.integration.conftest import EncryptedMember
from tests.integration.reliability.conftest import Homeserver, reliability_config
from tests.integration.reliability.faults import EXIT_CRASH, BotProcess

pytestmark = pytest.mark.integration


def answers(member: EncryptedMember, room_id: str, bot_user: str) -> dict[str, list[Any]]:
    """The bot's decrypted answers in ``room_id`` by the command they reply to."""
    found: dict[str, list[Any]] = {}
    for room, event in member.seen:
        if room != room_id or not isinstance(event, RoomMessageNotice) or event.sender != bot_user:
            continue
        target = event.source["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
        if target:
            found.setdefault(target, []).append(event)
    return found


async def wait_answered(
    member: EncryptedMember, room_id: str, bot_user: str, commands: list[str], timeout: float
) -> float:
    started = time.monotonic()
    while True:
        got = answers(member, room_id, bot_user)
        if all(c in got for c in commands):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            missing = [c for c in commands if c not in got]
            raise AssertionError(
                f"{len(missing)} of {len(commands)} commands unanswered; undecryptable: {len(member.undecryptable())}"
            )
        await member.sync_once(1000)


async def until_readable(member: EncryptedMember, timeout: float = 15) -> None:
    """Sync until every message from others decrypts (a room key may arrive a sync after
    its message), or ``timeout`` passes; the caller asserts what is left."""
    deadline = time.monotonic() + timeout
    while member.undecryptable() and time.monotonic() < deadline:
        await member.sync_once(500)


async def test_a_killed_bot_answers_every_encrypted_command_once_after_the_restart(
    shared_homeserver: Homeserver,
    bot_processes: Callable[..., BotProcess],
    encrypted_member_factory: Callable[..., Any],
    tmp_path: Path,
    tag: str,
) -> None:
    server = shared_homeserver  # only the bot is broken here, never the homeserver
    config = reliability_config(server, tmp_path, tag, level="DEBUG")
    bot = bot_processes(config)
    await bot.start()
    bob: EncryptedMember = await encrypted_member_factory("bob")
    dm = await bob.open_encrypted_dm(server.bot_user)
    canary = f"kanarie-{tag}-geheim"
    first = await bob.send(dm, f"!help {canary}")
    await wait_answered(bob, dm, server.bot_user, [first], 30)

    await bot.kill()
    commands = [await bob.send(dm, "!taal" if n % 2 else "!status") for n in range(12)]
    restarted = time.monotonic()
    await bot.start(wait=False)
    await wait_answered(bob, dm, server.bot_user, commands, 60)
    answered_after = time.monotonic() - restarted
    # A barrier: answered after every earlier command in the chat, a double included.
    later = await bob.send(dm, "!taal")
    await wait_answered(bob, dm, server.bot_user, [later], 30)
    await until_readable(bob)

    got = answers(bob, dm, server.bot_user)
    doubles = {c: len(a) for c, a in got.items() if len(a) > 1}
    print(
        f"\n[e2e point 1] answered {sum(c in got for c in commands)}/{len(commands)} encrypted commands "
        f"{answered_after:.1f} s after the restart; doubles {len(doubles)}; "
        f"undecryptable {len(bob.undecryptable())}"
    )
    assert doubles == {}
    assert all(a.decrypted for replies in got.values() for a in replies)
    assert bob.undecryptable() == []
    log = bot.run_log()
    assert "cannot decrypt" not in log
    # Decrypted text and the generated store key stay out of even a DEBUG log.
    store_key = await generated_store_key(config["database"]["url"])
    assert store_key and store_key not in log
    assert canary not in log


async def generated_store_key(url: str) -> str | None:
    from bot.matrix.crypto import STORE_KEY
    from bot.matrix.state import load
    from bot.storage.database import Database

    db = Database(url)
    try:
        return (await load(db, STORE_KEY)).get(STORE_KEY)
    finally:
        await db.dispose()


@pytest.mark.parametrize("mode", ["before", "after"], ids=["dies-before-reply", "dies-after-reply"])
async def test_an_encrypted_command_that_crashes_the_bot_is_answered_once(
    mode: str,
    shared_homeserver: Homeserver,
    bot_processes: Callable[..., BotProcess],
    encrypted_member_factory: Callable[..., Any],
    tmp_path: Path,
    tag: str,
) -> None:
    server = shared_homeserver  # only the bot is broken here, never the homeserver
    marker = tmp_path / "crashed.marker"
    config = reliability_config(server, tmp_path, tag, crash_test={"marker": str(marker), "mode": mode})
    bot = bot_processes(config)
    await bot.start()
    carol: EncryptedMember = await encrypted_member_factory("carol")
    dm = await carol.open_encrypted_dm(server.bot_user)

    command = await carol.send(dm, f"!crashtest {tag}")
    code = await bot.wait_exit(30)
    assert code == EXIT_CRASH, f"expected the crash feature to end the process, got {code}:\n{bot.log_tail()}"
    await bot.start(wait=False)
    await wait_answered(carol, dm, server.bot_user, [command], 60)
    await bot.wait_started(60)
    # A barrier: answered after the replayed command, so a second answer to it is here now.
    fresh = await carol.send(dm, "!taal")
    await wait_answered(carol, dm, server.bot_user, [fresh], 30)
    await until_readable(carol)

    replies = answers(carol, dm, server.bot_user)[command]
    print(f"\n[e2e point 2, dies {mode} the reply] exit {code}; replies after the restart: {len(replies)}")
    assert len(replies) == 1 and replies[0].decrypted
    assert replies[0].body == f"crashtest {tag}"
    assert carol.undecryptable() == []
