"""Sending one room's due rows in order: the room's turn, a send slot, one try per row.

Order within a room is kept by never skipping: the room's pending row with the
smallest ``(due_at, id)`` that is due goes first, and a retryable error ends the turn
with *that* row still first (the lane retries it after a pause, without holding a
slot) instead of moving on. So an outage in one room holds back that room only.
"""

from __future__ import annotations

from bot.clock import Clock, ensure_utc
from bot.locks import KeyedLocks
from bot.outbox.attempt import RETRY, Outcome, Result, SendAttempt
from bot.outbox.rows import OutboxRows
from bot.outbox.slots import Key, OrderedSlots
from bot.outbox.throttle import Throttle
from bot.storage.models import OutboxMessage


class RoomDelivery:
    """Sends rooms' due rows, one turn per room at a time, sharing the send slots."""

    def __init__(self, rows: OutboxRows, attempt: SendAttempt, clock: Clock, slots: OrderedSlots) -> None:
        self._rows = rows
        self._attempt = attempt
        self._clock = clock
        self._slots = slots
        self._throttle = Throttle()
        # The worker's lane and a direct deliver_due() must not both pick the same
        # row: the transport would absorb the repeat, but the attempt counts would be
        # wrong. One lock per room with a lane in it; dropped when nobody holds it.
        self._room_locks: KeyedLocks[str] = KeyedLocks()
        # Rooms whose next row was not due yet when their turn ended: the worker must
        # look again when their lane ends (a later row there has no wake-up planned).
        self.recheck: set[str] = set()

    async def send_room(
        self, room: str, first: Key, *, patient: bool, row: OutboxMessage | None = None
    ) -> tuple[int, Result | None]:
        """Send the room's due rows in order until none is due (result None) or one
        needs a retry (that result); with how many went out.

        ``first`` is a key no later than the room's first due row: the room's claim on
        a send slot holds its place in line from the start. ``patient`` waits out a
        rate limit; otherwise a throttled outbox answers RETRY without sending. ``row``,
        when given, is the room's first due row, already read.
        """
        sent = 0
        async with self._room_locks.hold(room):
            claim = self._slots.claim(first)
            try:
                while True:
                    if row is None:
                        row = await self._rows.first_pending(room)
                    if row is None:
                        return sent, None
                    if ensure_utc(row.due_at) > self._clock.now():
                        self.recheck.add(room)  # its lane ends; the worker plans the wake-up
                        return sent, None
                    result = await self._send_in_slot(claim, row, patient)
                    if result.outcome is Outcome.RETRY:
                        if result.retry_after is not None:
                            self._throttle.pause(result.retry_after)
                        return sent, result
                    if result.outcome is Outcome.SENT:
                        sent += 1
                    row = None
            finally:
                self._slots.withdraw(claim)

    async def _send_in_slot(self, claim: int, row: OutboxMessage, patient: bool) -> Result:
        """Wait for the row's turn among all rooms' due rows, then try it once."""
        key = (ensure_utc(row.due_at), int(row.id))
        self._slots.rekey(claim, key)
        await self._slots.acquire(claim)
        try:
            # Under a rate limit the oldest row is the first to go after it.
            if await self._throttle.wait_out(patient):
                return await self._attempt.claimed(row)
            return RETRY
        finally:
            self._slots.release(claim, key)
