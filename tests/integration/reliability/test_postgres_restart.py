"""A PostgreSQL restart while the bot runs: it waits, reconnects and loses nothing.

The bot runs as a real process on a PostgreSQL server of this module's own (the shared
test server is never stopped) and answers in a room. Then the server stops (``pg_ctl
stop -m fast``, as an upgrade or a failover would: every connection is cut). While it is
down a member sends two commands and a reminder planned before falls due. The bot
receives the commands from the homeserver but cannot claim them; it waits for the
database instead of failing them. After the server is back:

* the same bot process answers both commands, each exactly once;
* the reminder due during the outage is sent, once;
* the log says so in two lines (the outage, the reconnection) and holds no traceback.
"""

from __future__ import annotations

import asyncio
import re
import time

import asyncpg
import pytest

from bot.devtools.postgres import LocalPostgres
from tests.integration.conftest import Member
from tests.integration.reliability.conftest import Homeserver, Rig
from tests.integration.reliability.observe import (
    body_of,
    bot_messages,
    replies_by_target,
    send_and_wait_reply,
    server_seconds_after,
    wait_for_replies,
)

pytestmark = pytest.mark.integration

OUTAGE_LINE = "database unreachable"
BACK_LINE = "database reconnected"
REMINDER_DELAY_S = 8  # the outage lasts past it: longer than the sync loop would retry a failing batch




async def _wait_in_log(bot: object, offset: int, line: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while line not in bot.log_since(offset):  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            raise AssertionError(f"{line!r} not in the bot's log within {timeout:.0f}s")
        await asyncio.sleep(0.2)


async def _outbox_settled(dsn: str, txn_prefix: str, count: int, timeout: float) -> list[str]:
    """Until ``count`` outbox rows of the prefix exist and none is pending (then none is
    ever sent again); their statuses."""
    deadline = time.monotonic() + timeout
    while True:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT status FROM core_outbox WHERE txn_id LIKE $1", txn_prefix + "%")
        finally:
            await conn.close()
        statuses = [str(row["status"]) for row in rows]
        if len(statuses) >= count and "pending" not in statuses:
            return statuses
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout:.0f}s the outbox still owes: {statuses}")
        await asyncio.sleep(0.5)


async def _reminders(member: Member, room: str, bot_user: str, batch: str) -> list[dict[str, object]]:
    messages = await bot_messages(member, room, bot_user)
    return [m for m in messages if body_of(m).startswith("reminder ") and body_of(m).endswith(f"batch {batch}")]


async def test_the_bot_outlives_a_postgresql_restart(
    own_postgres: LocalPostgres, shared_homeserver: Homeserver, rig: Rig
) -> None:
    server = shared_homeserver
    name = f"restart_{rig.tag}".lower()
    await own_postgres.create_database(name)
    config = rig.config(server)
    config["database"] = {"url": own_postgres.url(name)}
    config["matrix"]["store_path"] = str(rig.tmp_path / "crypto")
    bot = rig.bots(config)
    await bot.start()
    pid = bot.pid
    bob = await rig.member(server, "bob")
    room = await bob.join(config["rooms"]["welcome"])
    await send_and_wait_reply(bob, room, "!taal", server.bot_user, timeout=30)

    _, planned, _ = await send_and_wait_reply(
        bob, room, f"!planherinneringen 1 {REMINDER_DELAY_S} 0", server.bot_user, timeout=30
    )
    due_at = time.time() + REMINDER_DELAY_S
    batch_match = re.search(r"batch (\w+)", body_of(planned))
    assert batch_match, body_of(planned)
    batch = batch_match.group(1)

    offset = bot.log_offset()
    await asyncio.to_thread(own_postgres.stop, remove=False)
    down_at = time.time()
    sent = [await bob.send(room, "!taal"), await bob.send(room, "!help")]
    # The bot got them and met the outage (it cannot claim them), and the reminder fell due.
    await _wait_in_log(bot, offset, OUTAGE_LINE, timeout=30)
    await asyncio.sleep(max(0.0, due_at + 1 - time.time()))
    assert bot.running, f"the bot died during the outage:\n{bot.log_tail()}"
    nothing_yet = replies_by_target(await bot_messages(bob, room, server.bot_user))
    assert not any(nothing_yet.get(event_id) for event_id in sent), "answered without a database?"
    await asyncio.to_thread(own_postgres.start)
    back_at = time.time()

    answers = await wait_for_replies(bob, [room], server.bot_user, sent, timeout=60)
    first_answer_s = min(server_seconds_after(answers[e][0], back_at) for e in sent)
    statuses = await _outbox_settled(own_postgres.dsn(name), f"reliability.reminder.{batch}.", 1, timeout=60)
    # A room's events are handled in order: once this is answered, a double of the two
    # commands would be in the history.
    await send_and_wait_reply(bob, room, "!taal", server.bot_user, timeout=30)
    replies = replies_by_target(await bot_messages(bob, room, server.bot_user))
    reminders = await _reminders(bob, room, server.bot_user, batch)
    log = bot.log_since(offset)

    assert bot.running and bot.pid == pid, "the bot was restarted or died"
    assert [len(replies.get(e, [])) for e in sent] == [1, 1], "each command of the outage answered once"
    assert statuses == ["sent"]
    assert [body_of(r) for r in reminders] == [f"reminder 1/1 batch {batch}"], "the reminder, once"
    assert log.count(OUTAGE_LINE) == 1 and log.count(BACK_LINE) == 1, log
    assert "Traceback" not in log, log
    print(
        f"\n[postgresql restart] server down {back_at - down_at:.1f} s; same bot process; both commands "
        f"of the outage answered once, the first {first_answer_s:.1f} s after the server returned; "
        f"the reminder due during the outage sent once; log: "
        + " | ".join(line.split(": ", 1)[-1] for line in log.splitlines() if OUTAGE_LINE in line or BACK_LINE in line)
    )
