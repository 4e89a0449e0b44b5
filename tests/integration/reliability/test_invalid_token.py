"""Point 3, last part: an invalid token stops the bot with a clear message, no loop.

Two ways a token goes bad: it was never valid (a configured ``access_token`` and no
password to fall back on), or it is revoked while the bot runs (logged out
elsewhere). Either way the process exits with code 3 and says that the access token
was rejected, without printing the token.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from tests.integration.reliability.conftest import Homeserver, Rig, reliability_config
from tests.integration.reliability.faults import EXIT_INVALID_CREDENTIALS, BotProcess
from tests.integration.reliability.observe import send_and_wait_reply

pytestmark = pytest.mark.integration


def _token_only(config: dict[str, object], token: str) -> None:
    matrix = config["matrix"]
    assert isinstance(matrix, dict)
    matrix.pop("password", None)
    matrix["access_token"] = token


def _message_lines(bot: BotProcess) -> list[str]:
    return [line for line in bot.run_log().splitlines() if "access token" in line.lower()]


async def test_an_invalid_token_stops_the_bot_at_start(
    shared_homeserver: Homeserver, bot_processes: Callable[..., BotProcess], tmp_path: Path, tag: str
) -> None:
    config = reliability_config(shared_homeserver, tmp_path, tag)
    bogus = "syt_" + secrets.token_urlsafe(24)
    _token_only(config, bogus)
    bot = bot_processes(config)
    bot.spawn()
    started = time.monotonic()
    code = await bot.wait_exit(60)
    took = time.monotonic() - started
    assert code == EXIT_INVALID_CREDENTIALS, f"exit {code}:\n{bot.log_tail()}"
    lines = _message_lines(bot)
    assert lines, f"no message about the access token:\n{bot.log_tail()}"
    assert bogus not in bot.log_text()
    print(f"\n[point 3, invalid token] exit {code} after {took:.1f} s: {lines[-1].strip()}")


async def test_a_token_revoked_while_running_stops_the_bot(
    shared_homeserver: Homeserver,
    rig: Rig,
) -> None:
    server = shared_homeserver
    login = await server.hs.login(server.bot_user, server.accounts.passwords["kennisbrug"])
    token = str(login["access_token"])
    config = rig.config(server)
    _token_only(config, token)
    bot = rig.bots(config)
    await bot.start()
    bob = await rig.member(server, "bob")
    room = await bob.join(config["rooms"]["welcome"])
    await send_and_wait_reply(bob, room, "!taal", server.bot_user, timeout=30)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async with session.post(
            f"{server.hs.base_url}/_matrix/client/v3/logout", headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            assert resp.status == 200, await resp.text()
    revoked = time.monotonic()
    code = await bot.wait_exit(90)
    took = time.monotonic() - revoked
    assert code == EXIT_INVALID_CREDENTIALS, f"exit {code}:\n{bot.log_tail()}"
    lines = _message_lines(bot)
    assert lines, f"no message about the access token:\n{bot.log_tail()}"
    assert token not in bot.log_text()
    print(f"\n[point 3, token revoked while running] exit {code} {took:.1f} s later: {lines[-1].strip()}")
