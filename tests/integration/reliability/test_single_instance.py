"""Point 6: one bot per database.

A second process on the same database refuses to start (exit 4, "already running")
and the first one carries on. Once the first is stopped, a new one starts; after a
crash (SIGKILL) too, so the guard never blocks a restart.
"""

from __future__ import annotations

import time

import pytest

from tests.integration.reliability.conftest import Homeserver, Rig
from tests.integration.reliability.faults import EXIT_ALREADY_RUNNING
from tests.integration.reliability.observe import send_and_wait_reply

pytestmark = pytest.mark.integration


async def test_a_second_bot_on_the_same_database_refuses_to_start(
    shared_homeserver: Homeserver,
    rig: Rig,
) -> None:
    server = shared_homeserver
    config = rig.config(server)
    first = rig.bots(config, "first")
    await first.start()
    bob = await rig.member(server, "bob")
    room = await bob.join(config["rooms"]["welcome"])
    await send_and_wait_reply(bob, room, "!taal", server.bot_user, timeout=30)

    second = rig.bots(config, "second")
    second.spawn()
    started = time.monotonic()
    code = await second.wait_exit(60)
    refused_after = time.monotonic() - started
    assert code == EXIT_ALREADY_RUNNING, f"exit {code}:\n{second.log_tail()}"
    message = [line for line in second.run_log().splitlines() if "already running" in line]
    assert message, second.log_tail()
    assert first.running
    _, _, answer_s = await send_and_wait_reply(bob, room, "!taal", server.bot_user, timeout=30)

    assert await first.terminate() == 0, first.log_tail()
    await second.start()  # the lock went with the first process
    await send_and_wait_reply(bob, room, "!taal", server.bot_user, timeout=30)
    await second.kill()
    third = rig.bots(config, "third")
    await third.start()  # a crash leaves no lock behind either
    await send_and_wait_reply(bob, room, "!taal", server.bot_user, timeout=30)
    print(
        f"\n[point 6] second instance refused in {refused_after:.1f} s with exit {code}: "
        f"{message[0].strip()}; the first kept answering ({answer_s:.2f} s); after a clean stop "
        "and after a SIGKILL a new instance started"
    )
