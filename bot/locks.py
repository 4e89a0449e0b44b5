"""One lock per key (a room, a member, an event), held only while someone uses it.

Several places serialise work per key: the outbox per room, nudge delivery per member,
room-key sharing per room, a welcome per member, card edits per event. A plain
``dict.setdefault(key, Lock())`` grows with every key ever seen, and popping the entry
by hand (without ``finally``, or while another task still waits on it) lets two tasks
hold "the" lock of one key at once. :class:`KeyedLocks` counts the tasks using a key's
lock and drops it when the last one leaves, so memory follows the work in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class KeyedLocks(Generic[K]):
    """``async with locks.hold(key):`` runs one task per key at a time."""

    def __init__(self) -> None:
        self._locks: dict[K, asyncio.Lock] = {}
        self._users: dict[K, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: K) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key]
                del self._locks[key]

    def __len__(self) -> int:
        """How many keys have a lock now (held or waited for)."""
        return len(self._locks)
