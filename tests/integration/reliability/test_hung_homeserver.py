"""Point 4 (and the stall half of point 9): a hung homeserver.

The module's own homeserver is frozen with SIGSTOP for 2 minutes: its port stays
open, connections are accepted by the kernel, nothing answers. A long-poll on such a
connection never returns by itself. The bot's watchdog notices (no answer within the
sync timeout plus a margin) and restarts the sync; ``run_bot.py health`` turns
unhealthy within 2 minutes of the stall (last successful sync older than 120 s); after
SIGCONT the same process answers within 10 s and is healthy again.

The pause lasts at least 120 s, and longer (up to 140 s) only if health has not yet
said "unhealthy", so that a late verdict is measured instead of cut off.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.integration.reliability.conftest import Homeserver, Rig
from tests.integration.reliability.faults import HealthCheck
from tests.integration.reliability.observe import send_and_wait_reply, server_seconds_after

pytestmark = pytest.mark.integration

PAUSE_S = 120
MAX_PAUSE_S = 140
UNHEALTHY_WITHIN_S = 120
HEALTH_POLL_S = 2.0
HEALTH_SLACK_S = 5.0  # the poll interval plus one run of the health command
RECOVERY_S = 10.0


@pytest.mark.slow
async def test_a_hung_homeserver_is_noticed_and_the_bot_recovers(
    homeserver: Homeserver,
    rig: Rig,
) -> None:
    server = homeserver
    config = rig.config(server)
    sync_timeout_s = config["matrix"]["sync_timeout_ms"] / 1000
    bot = rig.bots(config)
    await bot.start()
    bob = await rig.member(server, "bob")
    room = await bob.join(config["rooms"]["welcome"])
    await send_and_wait_reply(bob, room, "!taal", server.bot_user, timeout=30)
    await bot.wait_healthy(timeout=60)
    pid = bot.pid
    log_offset = bot.log_offset()

    paused_at = server.faults.pause()
    unhealthy: HealthCheck | None = None
    unhealthy_after: float | None = None
    while True:
        elapsed = time.time() - paused_at
        if elapsed >= MAX_PAUSE_S or (elapsed >= PAUSE_S and unhealthy is not None):
            break
        if unhealthy is None:
            check = await bot.health()
            if not check.healthy:
                unhealthy, unhealthy_after = check, time.time() - paused_at
        await asyncio.sleep(HEALTH_POLL_S if unhealthy is None else max(0.0, PAUSE_S - elapsed))
    assert bot.running, f"the bot died while the homeserver hung:\n{bot.log_tail()}"
    resumed_at = server.faults.resume()
    paused_for = resumed_at - paused_at

    _, answer, _ = await send_and_wait_reply(bob, room, "!taal", server.bot_user, timeout=60)
    recovered_s = server_seconds_after(answer, resumed_at)
    await bot.wait_healthy(timeout=60)
    healthy_again_s = time.time() - resumed_at
    pause_log = bot.log_since(log_offset).splitlines()
    watchdog = [line for line in pause_log if "watchdog" in line.lower()]

    assert bot.running and bot.pid == pid, "the bot was restarted or died"
    assert watchdog, "no watchdog line in the bot's log during the pause:\n" + "\n".join(pause_log[-20:])
    assert unhealthy is not None and unhealthy_after is not None, "health never turned unhealthy"
    assert unhealthy_after <= UNHEALTHY_WITHIN_S + HEALTH_SLACK_S, unhealthy.summary()
    assert recovered_s <= RECOVERY_S, f"answered {recovered_s:.1f} s after the homeserver woke up"
    first_watchdog = watchdog[0].split(": ", 1)[-1]
    print(
        f"\n[point 4] homeserver frozen {paused_for:.0f} s; watchdog fired {len(watchdog)} times "
        f"(sync timeout {sync_timeout_s:.0f} s): {first_watchdog}; answered {recovered_s:.1f} s after SIGCONT, "
        f"same process\n[point 9] health unhealthy {unhealthy_after:.0f} s into the stall "
        f"({'; '.join(unhealthy.report.get('problems', []))}); healthy again {healthy_again_s:.0f} s after SIGCONT"
    )
