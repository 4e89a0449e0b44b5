"""Point 10: no secrets and no message text in the logs, even at DEBUG.

The bot runs with ``logging: {level: DEBUG}``. A member posts a canary string in every
way a text reaches the bot: a chat message, a command argument the bot echoes in its
answer, an unknown command, a slow command's argument, a direct message. Afterwards
the canary, the bot's password and its access token appear nowhere in the bot's log.
"""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path

import pytest

from bot.matrix.state import ACCESS_TOKEN
from tests.integration.reliability.conftest import Homeserver, Rig
from tests.integration.reliability.observe import body_of, open_direct_chat, send_and_wait_reply

pytestmark = pytest.mark.integration


def _stored_token(database: Path) -> str:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT value FROM core_state WHERE key = ?", (ACCESS_TOKEN,)).fetchone()
    assert row and row[0], "the bot stored no access token"
    return str(row[0])


async def test_the_debug_log_holds_no_secrets_and_no_message_text(
    shared_homeserver: Homeserver,
    rig: Rig,
) -> None:
    server = shared_homeserver
    config = rig.config(server, level="DEBUG")
    password = config["matrix"]["password"]
    bot = rig.bots(config)
    await bot.start()
    bob = await rig.member(server, "bob")
    room = await bob.join(config["rooms"]["welcome"])
    canary = f"kanarie{secrets.token_hex(8)}"

    await bob.send(room, f"Goedemorgen allemaal, {canary} hier met een vraag")
    echoed = []
    for body in (f"!help {canary}a", f"!{canary}b", f"!traagantwoord 0 {canary}c"):
        _, reply, _ = await send_and_wait_reply(bob, room, body, server.bot_user, timeout=30)
        echoed.append(canary in body_of(reply))
    dm = await open_direct_chat(bob, server.bot_user)
    await send_and_wait_reply(bob, dm, f"{canary}d", server.bot_user, timeout=30)
    await send_and_wait_reply(bob, room, "!taal", server.bot_user, timeout=30)  # all of the above handled
    token = _stored_token(rig.tmp_path / "bot.db")
    assert await bot.terminate() == 0, bot.log_tail()

    log = bot.log_text()
    lines = log.splitlines()
    assert any(" DEBUG " in line for line in lines), "the bot did not log at DEBUG"
    found = {
        "canary": log.count(canary),
        "password": log.count(str(password)),
        "access token": log.count(token),
        "any syt_ token": log.count("syt_"),
    }
    assert found == dict.fromkeys(found, 0), found
    print(
        f"\n[point 10] {len(lines)} log lines at DEBUG ({len(log) / 1024:.0f} KB): 0 hits for the canary "
        f"(sent 5 ways, {sum(echoed)} of them echoed back in answers), the password and the access token"
    )
