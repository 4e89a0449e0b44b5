"""Send slots shared by the rooms' lanes, handed out in due order across rooms."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import datetime

Key = tuple[datetime, int]
"""A row's place in line: ``(due_at, id)``."""


class OrderedSlots:
    """At most ``size`` sends in flight, started in due order across rooms.

    Every room with due rows holds a *claim* keyed by its next row's ``(due_at, id)``.
    A free slot goes to the smallest claim, and waits for it while that claim's lane is
    still reading its row from the database. A row due later also waits while a row due
    earlier is in flight (for at most ``order_wait_s``): the homeserver stamps messages
    in the order it gets to them, so otherwise a reminder could overtake an older one
    in another room. Rows due at the same moment, a reminder's fan-out to fifty members,
    go side by side. So with one slot the outbox sends in strict due order, and with
    more a hung send holds up other rooms for ``order_wait_s`` at most.
    """

    def __init__(self, size: int, order_wait_s: float) -> None:
        self._free = size
        self._order_wait_s = order_wait_s
        self._ids = itertools.count()
        self._keys: dict[int, Key] = {}  # live claims not holding a slot
        self._heap: list[tuple[Key, int]] = []  # may hold stale entries; see _oldest
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._holders: dict[int, tuple[datetime, float]] = {}  # claim: (due_at, loop time granted)
        self._timer: asyncio.TimerHandle | None = None

    def claim(self, key: Key) -> int:
        claim = next(self._ids)
        self.rekey(claim, key)
        return claim

    def rekey(self, claim: int, key: Key) -> None:
        """The claim's lane now knows its next row (a key never earlier than before)."""
        self._keys[claim] = key
        heapq.heappush(self._heap, (key, claim))
        self._hand_out()

    def withdraw(self, claim: int) -> None:
        self._keys.pop(claim, None)
        self._waiting.pop(claim, None)
        self._hand_out()

    async def acquire(self, claim: int) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[claim] = future
        self._hand_out()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                # Granted just as it was cancelled: give the slot back.
                self._holders.pop(claim, None)
                self._free += 1
            self.withdraw(claim)
            raise

    def release(self, claim: int, key: Key) -> None:
        """A send ended; the claim waits again with ``key`` until its lane moves on."""
        self._holders.pop(claim, None)
        self._free += 1
        self.rekey(claim, key)

    def _oldest(self) -> int | None:
        while self._heap:
            key, claim = self._heap[0]
            if self._keys.get(claim) == key:
                return claim
            heapq.heappop(self._heap)  # withdrawn, granted or re-keyed since
        return None

    def _held_back_until(self, due: datetime, now: float) -> float | None:
        """Loop time until which a row due at ``due`` waits for earlier rows in flight."""
        until = max(
            (granted + self._order_wait_s for held_due, granted in self._holders.values() if held_due < due),
            default=None,
        )
        return until if until is not None and until > now else None

    def _hand_out(self) -> None:
        loop = asyncio.get_running_loop()
        while self._free > 0:
            claim = self._oldest()
            if claim is None:
                return
            future = self._waiting.get(claim)
            if future is None or future.done():
                # Still reading its row (it goes first), or cancelled a moment ago (a stop):
                # its acquire withdraws it and hands the slot out again.
                return
            due = self._keys[claim][0]
            until = self._held_back_until(due, loop.time())
            if until is not None:
                # Looked at again when an earlier send ends (release) or at ``until``.
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = loop.call_at(until, self._hand_out)
                return
            heapq.heappop(self._heap)
            del self._keys[claim]
            del self._waiting[claim]
            self._free -= 1
            self._holders[claim] = (due, loop.time())
            future.set_result(None)
