"""Giving the memory the bot no longer uses back to the system.

CPython frees objects into the C library's heap, and glibc keeps those pages: after a
start-up (the first sync's JSON, the rooms' state, the crypto store's rows, the
schema check) the bot's resident memory stayed about 8-12 MiB above what it still
held. Measured on the shared machine with a real Synapse (3 December 2026): the idle
bot of ``bench/scale.py`` went from about 105 to 101 MiB; with 300 members a collection
and a trim asked from outside the process took a restarted bot from 114.8 to 107.0 MiB and
one that had caught up with the growth from 133.9 to 121.3 MiB. A
large fan-out (the Monday digest to thousands) leaves the same kind of slack, so the
release also runs every :data:`RELEASE_INTERVAL` while the bot runs; it costs a few
milliseconds of CPU.

Where the C library is not glibc (musl in a small container image, macOS) nothing runs.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache

from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

RELEASE_INTERVAL = timedelta(minutes=10)
#: How often to look whether the first sync batch is handled yet.
_FIRST_SYNC_POLL_S = 0.5


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory() -> None:
    """Hand the heap's free pages back to the system.

    No ``gc.collect()`` first: with 5,000 members a full collection held the event loop
    for about 0.9 s (py-spy), while the trim takes milliseconds (26 ms for 150 MiB of
    freed blocks) and is what gives the memory back; cycles go with CPython's own
    collections as ever."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class MemoryUpkeep:
    """Releases free memory once the first sync batch is handled, then every interval."""

    def __init__(
        self, last_sync_ok: Callable[[], datetime | None], interval: timedelta = RELEASE_INTERVAL
    ) -> None:
        self._last_sync_ok = last_sync_ok
        self._interval_s = interval.total_seconds()
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            if self._last_sync_ok() is None:  # the start-up's catch-up is still under way
                await asyncio.sleep(_FIRST_SYNC_POLL_S)
                continue
            try:
                release_free_memory()
            except Exception:  # never worth stopping the bot for
                log.warning("could not release free memory", exc_info=True)
            await asyncio.sleep(self._interval_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="memory-upkeep")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
