"""Point 5: under Synapse's default rate limits, 30 reminders due together all arrive.

Synapse's default ``rc_message`` lets a user send a burst of 10 messages, then one
every 5 s (0.2/s). Thirty reminders fall due within 15 s, one in each of 30 rooms;
they go through the durable outbox (pending -> sent, or failed with a reason). All
30 are delivered, each once, in order of due time, the bot waiting as the homeserver
asks (HTTP 429 with ``retry_after_ms``).

Set-up: creating 31 rooms and joining them is throttled by the default limits too
(``rc_room_creation``, ``rc_joins``). So the module's homeserver starts with relaxed
limits, the bot creates its rooms and the member joins them; then the homeserver is
restarted on the same data with *all* of Synapse's own defaults (``LocalSynapse``
patches the ``rc_*`` keys on every start), and only then are the reminders planned.
The homeserver logs at INFO, so its access log counts the 429 answers the bot got.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Member
from tests.integration.reliability.conftest import Homeserver, own_homeserver, reliability_config
from tests.integration.reliability.faults import BotProcess
from tests.integration.reliability.observe import (
    body_of,
    bot_messages,
    outbox_rows,
    send_and_wait_reply,
    wait_outbox_settled,
)

pytestmark = pytest.mark.integration

ROOMS = 30
FIRST_DUE_S = 5
SPACING_S = 0.5  # 30 reminders due within 15 s
DELIVERY_TIMEOUT_S = 300  # about 100 s expected: 20 messages after the burst, 5 s apart
_SEND_LINE = re.compile(
    r"\{(?P<who>[^}]*)\} Processed request: .*? (?P<code>\d{3})!? "
    r'"PUT /_matrix/client/v3/rooms/[^/ ]+/send/m\.room\.message/'
)


@pytest.fixture(scope="module")
def faulty_synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    yield from own_homeserver(tmp_path_factory, log_level="INFO")


def _bot_sends(log_text: str, bot_user: str) -> dict[str, int]:
    codes: dict[str, int] = {}
    for match in _SEND_LINE.finditer(log_text):
        if bot_user in match.group("who"):
            codes[match.group("code")] = codes.get(match.group("code"), 0) + 1
    return codes


@pytest.mark.slow
async def test_thirty_reminders_due_together_under_default_rate_limits(
    homeserver: Homeserver,
    bot_processes: Callable[..., BotProcess],
    members_on: Callable[[Homeserver, str], Awaitable[Member]],
    tmp_path: Path,
    tag: str,
) -> None:
    server = homeserver
    names = [f"herinnering{i:02d}" for i in range(1, ROOMS + 1)]
    config = reliability_config(server, tmp_path, tag, reminder_test={"rooms": names})
    config["rooms"].update({name: f"#{name}-{tag}:{server.hs.server_name}" for name in names})

    # Set-up with relaxed limits: the bot creates the rooms, alice joins them.
    assert server.hs.options.relaxed_rate_limits
    bot = bot_processes(config)
    await bot.start(timeout=180)
    alice = await members_on(server, "alice")
    welcome = await alice.join(config["rooms"]["welcome"])
    room_of = {name: await alice.join(config["rooms"][name]) for name in names}
    assert await bot.terminate() == 0, bot.log_tail()

    # From here on: Synapse's default rate limits, for everybody.
    await server.faults.set_rate_limits(relaxed=False)
    log_offset = server.hs.log_path.stat().st_size
    await bot.start(timeout=120)
    _, planned, _ = await send_and_wait_reply(
        alice, welcome, f"!planherinneringen {ROOMS} {FIRST_DUE_S} {SPACING_S}", server.bot_user, timeout=60
    )
    batch_match = re.search(r"batch (\w+)", body_of(planned))
    assert batch_match, body_of(planned)
    batch = batch_match.group(1)
    first_due = time.time() + FIRST_DUE_S - 1  # the plan was made a moment before the answer

    async def delivered() -> dict[int, list[dict[str, Any]]]:
        found: dict[int, list[dict[str, Any]]] = {}
        for index, name in enumerate(names):
            found[index] = [
                m
                for m in await bot_messages(alice, room_of[name], server.bot_user)
                if body_of(m) == f"reminder {index + 1}/{ROOMS} batch {batch}"
            ]
        return found

    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    found = await delivered()
    while sum(1 for msgs in found.values() if msgs) < ROOMS and time.monotonic() < deadline:
        await asyncio.sleep(5)
        found = await delivered()
    # Once no row of the batch is pending, none is sent again: a double is in the history now.
    await wait_outbox_settled(
        tmp_path / "bot.db", f"reliability.reminder.{batch}.", ROOMS, timeout=max(deadline - time.monotonic(), 30)
    )
    found = await delivered()

    counts = {index: len(msgs) for index, msgs in found.items()}
    arrived = sum(1 for n in counts.values() if n)
    assert arrived == ROOMS, (
        f"{arrived}/{ROOMS} delivered within {DELIVERY_TIMEOUT_S}s; outbox: {outbox_rows(tmp_path / 'bot.db')}"
    )
    assert all(n == 1 for n in counts.values()), f"deliveries per reminder: {counts}"
    stamps = [int(found[i][0]["origin_server_ts"]) for i in range(ROOMS)]
    assert stamps == sorted(stamps), "reminders left out of due order"
    outbox = [
        row for row in outbox_rows(tmp_path / "bot.db") if row[0].startswith(f"reliability.reminder.{batch}.")
    ]
    assert len(outbox) == ROOMS and all(status == "sent" for _, status, _, _ in outbox), outbox
    sends = _bot_sends(
        server.hs.log_path.read_bytes()[log_offset:].decode("utf-8", errors="replace"), server.bot_user
    )
    assert bot.running, bot.log_tail()

    took = stamps[-1] / 1000 - first_due
    spread = (stamps[-1] - stamps[0]) / 1000
    retries = sum(attempts for _, _, attempts, _ in outbox) - ROOMS
    print(
        f"\n[point 5] {arrived}/{ROOMS} delivered in {took:.0f} s from the first due time "
        f"({spread:.0f} s from first to last), once each, in due order; the homeserver answered 429 to "
        f"{sends.get('429', 0)} of the bot's {sum(sends.values())} sends ({retries} outbox retries); "
        f"outbox: {len(outbox)} sent, 0 failed"
    )
