"""Point 3: the bot outlives a homeserver outage without a restart of its own.

The module's own homeserver is stopped (SIGTERM, as an upgrade would) for 15 s and,
in a second test, for 2 minutes, then started again. Just before the outage a member
sends a command the bot answers only after a few seconds (so the answer cannot be
delivered while the homeserver is away), and asks for three reminders that fall due
during the outage. After the homeserver's return:

* the same bot process (same pid) answers a new command within 5 s of the return;
* the command from before the outage is answered, once;
* the three reminders are delivered, once each, in order (while the homeserver was
  away they waited in the outbox, and ``run_bot.py health`` showed that backlog).

The 5 s is the promise: the bot's longest wait between sync attempts is
``matrix.max_retry_wait_s`` (3 s by default). ``MEASUREMENT_SLACK_S`` covers the
member's own send after the return; the figure printed is the server's timestamp of
the answer minus the moment the homeserver answered again.

Related, covered elsewhere: a homeserver that answers errors instead of nothing gets
exponential backoff (about 5 requests in the first 10 s, never more than 10), in
``tests/unit/test_matrix_sync.py::test_default_backoff_numbers`` and
``::test_502s_are_backed_off_and_the_bot_is_back_soon_after``; an invalid token stops
the bot, in ``test_invalid_token.py``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Member
from tests.integration.reliability.conftest import Homeserver, reliability_config
from tests.integration.reliability.faults import BotProcess
from tests.integration.reliability.observe import (
    body_of,
    bot_messages,
    replies_by_target,
    send_and_wait_reply,
    server_seconds_after,
    wait_claimed,
    wait_for_replies,
    wait_outbox_settled,
)

pytestmark = pytest.mark.integration

ANSWER_AFTER_RETURN_S = 5.0
MEASUREMENT_SLACK_S = 1.0
SLOW_ANSWER_S = 5
REMINDERS = 3


async def _reminders(member: Member, room: str, bot_user: str, batch: str) -> list[dict[str, object]]:
    return [
        m
        for m in await bot_messages(member, room, bot_user)
        if body_of(m).startswith("reminder ") and body_of(m).endswith(f"batch {batch}")
    ]


@pytest.mark.slow
@pytest.mark.parametrize("outage_s", [15, 120], ids=["15s", "2min"])
async def test_the_bot_outlives_a_homeserver_outage(
    outage_s: int,
    homeserver: Homeserver,
    bot_processes: Callable[..., BotProcess],
    members_on: Callable[[Homeserver, str], Awaitable[Member]],
    tmp_path: Path,
    tag: str,
) -> None:
    server = homeserver
    config = reliability_config(server, tmp_path, tag)
    bot = bot_processes(config)
    await bot.start()
    pid = bot.pid
    bob = await members_on(server, "bob")
    room = await bob.join(config["rooms"]["welcome"])
    await send_and_wait_reply(bob, room, "!taal", server.bot_user, timeout=30)

    # Three reminders due 6, 7 and 8 s from now: in the middle of the outage.
    planned_at = time.monotonic()
    _, planned, _ = await send_and_wait_reply(
        bob, room, f"!planherinneringen {REMINDERS} 6 1", server.bot_user, timeout=30
    )
    batch_match = re.search(r"batch (\w+)", body_of(planned))
    assert batch_match, body_of(planned)
    batch = batch_match.group(1)
    # A command the bot answers 5 s after it got it: by then the homeserver is gone.
    slow = await bob.send(room, f"!traagantwoord {SLOW_ANSWER_S} {tag}")
    await wait_claimed(tmp_path / "bot.db", slow, timeout=SLOW_ANSWER_S)  # the bot has it, then the outage
    down_at = await server.faults.stop()
    # Once the reminders fell due they wait in the outbox; health shows the backlog.
    await asyncio.sleep(max(0.0, planned_at + 10 - time.monotonic()))
    during = await bot.health()
    await asyncio.sleep(max(0.0, down_at + outage_s - time.time()))
    assert bot.running, f"the bot died during the outage:\n{bot.log_tail()}"
    back_at = await server.faults.start()

    _, answer, _ = await send_and_wait_reply(bob, room, "!taal", server.bot_user, timeout=60)
    first_answer_s = server_seconds_after(answer, back_at)
    late = await wait_for_replies(bob, [room], server.bot_user, [slow], timeout=60)
    slow_after_s = server_seconds_after(late[slow][0], back_at)
    deadline = time.monotonic() + 60
    reminders = await _reminders(bob, room, server.bot_user, batch)
    while len(reminders) < REMINDERS and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        reminders = await _reminders(bob, room, server.bot_user, batch)
    # No double can come any more: every reminder row left the outbox, and the !taal after
    # the slow command was answered (a room's events are handled in order).
    await wait_outbox_settled(tmp_path / "bot.db", f"reliability.reminder.{batch}.", REMINDERS, timeout=60)
    reminders = await _reminders(bob, room, server.bot_user, batch)
    slow_replies = replies_by_target(await bot_messages(bob, room, server.bot_user)).get(slow, [])

    assert bot.running and bot.pid == pid, "the bot was restarted or died"
    assert [body_of(r) for r in slow_replies] == [f"slow {tag}"], "the command from before the outage"
    assert [body_of(r) for r in reminders] == [
        f"reminder {i}/{REMINDERS} batch {batch}" for i in range(1, REMINDERS + 1)
    ], "reminders that fell due during the outage: each once, in order"
    assert during.report.get("outbox_backlog") == REMINDERS, during.summary()
    assert first_answer_s <= ANSWER_AFTER_RETURN_S + MEASUREMENT_SLACK_S, (
        f"first answer {first_answer_s:.1f} s after the homeserver returned"
    )
    reminders_after_s = max(server_seconds_after(r, back_at) for r in reminders)
    print(
        f"\n[point 3, {outage_s} s outage] homeserver down {back_at - down_at:.0f} s; same bot process; "
        f"first answer {first_answer_s:.1f} s after the homeserver returned; the command sent before "
        f"the outage answered {slow_after_s:.1f} s after, once; {len(reminders)}/{REMINDERS} reminders "
        f"due during the outage delivered by {reminders_after_s:.1f} s after, once each, in order; "
        f"health during the outage: healthy={during.report.get('healthy')}, "
        f"outbox_backlog={during.report.get('outbox_backlog')}, problems={during.report.get('problems')}"
    )
