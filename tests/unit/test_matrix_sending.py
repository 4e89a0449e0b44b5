"""Sending under a rate limit: the outbox sends to several rooms at once, yet reminders
still reach the homeserver in the order they were started.

A fake client stands in for nio: its homeserver accepts one message per ``interval``
for the whole account and answers the rest with ``M_LIMIT_EXCEEDED`` and the time
left, as Synapse's ``rc_message`` does.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nio import ErrorResponse, RoomSendResponse

from bot.clock import FakeClock
from bot.ids import RoomId
from bot.matrix.sending import Sender, SendTurns
from bot.storage.database import Database
from bot.transport import OutgoingMessage


class ThrottlingClient:
    """``room_send`` with an account-wide limit of one message per ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.accepted: list[str] = []
        self.refused = 0
        self._next_free = 0.0

    async def room_send(self, room_id: str, event_type: str, content: dict[str, Any], tx_id: str) -> Any:
        await asyncio.sleep(0.002)  # the request on its way
        now = asyncio.get_running_loop().time()
        if now < self._next_free:
            self.refused += 1
            wait_ms = max(1, int((self._next_free - now) * 1000))
            return ErrorResponse("Too Many Requests", "M_LIMIT_EXCEEDED", retry_after_ms=wait_ms)
        self._next_free = now + self.interval
        self.accepted.append(tx_id)
        return RoomSendResponse(f"$ev-{tx_id}", room_id)


async def test_sends_started_together_get_through_a_rate_limit_in_the_order_they_started(
    db: Database, clock: FakeClock
) -> None:
    client = ThrottlingClient(interval=0.03)
    sender = Sender(client, db, clock, max_wait_s=0.01)  # type: ignore[arg-type]

    async def send(i: int) -> None:
        await asyncio.sleep(0.003 * i)  # started one after the other, as the outbox does
        await sender.send_message(
            OutgoingMessage(room_id=RoomId(f"!dm{i}"), plain="Herinnering", txn_id=f"remind.{i}")
        )

    await asyncio.gather(*(send(i) for i in range(8)))
    await sender.close()
    assert client.refused > 0  # the limit was really hit
    assert client.accepted == [f"remind.{i}" for i in range(8)]


async def test_turns_go_oldest_first_until_no_send_is_open() -> None:
    turns = SendTurns()
    first, second = turns.start(), turns.start()
    await turns.wait_turn(second)  # not throttled: nobody waits
    waiter = asyncio.create_task(turns.rate_limited(second))
    await asyncio.sleep(0)
    assert turns.throttled and not waiter.done()  # the older send goes first
    third = turns.start()
    late = asyncio.create_task(turns.wait_turn(third))
    turns.finish(first)
    await asyncio.wait_for(waiter, 1.0)
    await asyncio.sleep(0)
    # Still throttled: the third waits for the second even though the first went through,
    # or the two would race for the homeserver's next free slot.
    assert turns.throttled and not late.done()
    turns.finish(second)
    await asyncio.wait_for(late, 1.0)
    turns.finish(third)
    assert not turns.throttled  # nothing open any more
