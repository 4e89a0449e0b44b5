"""The worker: one lane per room with due rows, started as rows fall due.

A lane sends its room's rows until none is due, pausing (without a send slot) after a
retryable error and trying the same row again; the worker sleeps until the next due
time of a room without a lane, or until an enqueue (or a lane ending) wakes it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import datetime, timedelta

from bot.backoff import Backoff
from bot.clock import Clock
from bot.errors import InvalidCredentials
from bot.outbox.attempt import RETRY
from bot.outbox.delivery import RoomDelivery
from bot.outbox.rows import OutboxRows
from bot.outbox.slots import Key
from bot.storage.database import log_failure
from bot.storage.models import OutboxMessage

log = logging.getLogger(__name__)

INITIAL_BACKOFF_S = 0.5
"""First pause after a retryable error; doubled per further error, up to the cap."""


class Worker:
    """Runs the lanes; a rejected token in any lane stops it (every send would fail)."""

    def __init__(
        self,
        rows: OutboxRows,
        delivery: RoomDelivery,
        clock: Clock,
        *,
        max_backoff_s: float,
        idle_poll_s: float,
        concurrency: int,
    ) -> None:
        self._rows = rows
        self._delivery = delivery
        self._clock = clock
        self._max_backoff_s = max_backoff_s
        self._idle_poll_s = idle_poll_s
        self._concurrency = concurrency
        self._wake = asyncio.Event()
        self._lanes: dict[str, asyncio.Task[None]] = {}
        # Counts enqueue calls: a lane that ends wakes the worker only if something
        # was queued while it ran (its room may have a new row); otherwise the end of
        # each of fifty lanes would cost the worker a pass over the table.
        self._enqueues = 0
        self._fatal: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    # -- life cycle ------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        self._wake.clear()
        self._fatal = None
        self._task = asyncio.create_task(self._run(), name="outbox-worker")
        self._task.add_done_callback(self._worker_done)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        # asyncio.wait neither re-raises the worker's error (the done callback logged
        # it) nor swallows a cancellation of stop() itself.
        await asyncio.wait([task])

    def wake(self) -> None:
        self._wake.set()

    def enqueued(self) -> None:
        """Something was queued: look now, and again when the lanes running now end."""
        self._enqueues += 1
        self.wake()

    def _worker_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, InvalidCredentials):
            log.error("outbox worker stopped: the homeserver rejected the bot's credentials")
        elif exc is not None:
            log.error("outbox worker stopped unexpectedly", exc_info=exc)

    async def _run(self) -> None:
        # The first pass looks at once: what fell due while the bot was down goes out
        # late rather than never, in its original order.
        log.info("outbox worker started (up to %d sends at once)", self._concurrency)
        try:
            while True:
                # Cleared before looking, so an enqueue (or a lane ending) after the
                # query still wakes the wait below instead of being missed.
                self._wake.clear()
                if self._fatal is not None:
                    raise self._fatal
                await self._wait_for_work(await self._start_lanes())
        finally:
            lanes = list(self._lanes.values())
            for lane in lanes:
                lane.cancel()
            if lanes:
                await asyncio.wait(lanes)

    async def _wait_for_work(self, next_due: datetime | None) -> None:
        """Sleep until ``next_due`` (at most ``idle_poll_s``) or until woken."""
        delay = self._idle_poll_s
        if next_due is not None:
            # The distance is measured with the injected clock; the sleep is real time.
            delay = min(delay, max((next_due - self._clock.now()).total_seconds(), 0.0))
        try:
            async with asyncio.timeout(delay):
                await self._wake.wait()
        except TimeoutError:
            pass

    # -- lanes -----------------------------------------------------------------------

    async def _start_lanes(self) -> datetime | None:
        """Start a lane for every room with a due row and none yet; returns when the
        next row of a room without a lane falls due (None: nothing waits)."""
        try:
            now = self._clock.now()
            rooms = await self._rows.pending_rooms()
            if any(due <= now and room not in self._lanes for room, due, _ in rooms):
                first_rows = await self._rows.first_due_rows(now)
            else:
                first_rows = {}
        except Exception as exc:
            # A database hiccup: the worker must survive it, but not spin.
            log_failure(
                log, exc, "outbox worker could not read the pending rooms; retrying", level=logging.ERROR
            )
            return self._clock.now() + timedelta(seconds=self._max_backoff_s)
        next_due: datetime | None = None
        for room, first_due, first_id in rooms:
            if room in self._lanes:
                # Passed over because its lane is busy: looked at again when it ends.
                self._delivery.recheck.add(room)
                continue
            if first_due <= now:
                self._start_lane(room, (first_due, first_id), first_rows.get(room))
            elif next_due is None or first_due < next_due:
                next_due = first_due
        return next_due

    def _start_lane(self, room: str, first: Key, row: OutboxMessage | None) -> None:
        lane = asyncio.create_task(self._lane(room, first, row), name=f"outbox-lane-{room}")
        self._lanes[room] = lane
        lane.add_done_callback(functools.partial(self._lane_done, room, self._enqueues))

    def _lane_done(self, room: str, enqueues_at_start: int, task: asyncio.Task[None]) -> None:
        if self._lanes.get(room) is task:
            del self._lanes[room]
        recheck = self._delivery.recheck
        if not task.cancelled() and isinstance(task.exception(), InvalidCredentials):
            self._fatal = task.exception()
            self.wake()
        elif room in recheck or self._enqueues != enqueues_at_start:
            # The room may have a row due later, or got one while its lane was finishing.
            recheck.discard(room)
            self.wake()

    async def _lane(self, room: str, first: Key, row: OutboxMessage | None) -> None:
        """Send the room's due rows in order, retrying a failed one until it goes.

        ``row`` is the room's first due row as the worker read it (for all rooms in
        one query), so a fan-out to fifty rooms starts without fifty more reads.
        """
        backoff = Backoff(INITIAL_BACKOFF_S, self._max_backoff_s)
        while True:
            try:
                sent, result = await self._delivery.send_room(room, first, patient=True, row=row)
                row = None  # after a pause or a run of sends: read afresh
            except InvalidCredentials:
                raise
            except Exception as exc:
                # A database hiccup, say: the lane must survive it, but not spin.
                log_failure(log, exc, "outbox lane for %s failed; retrying", room, level=logging.ERROR)
                sent, result = 0, RETRY
            if result is None:
                return
            if sent:
                backoff.reset()  # the pauses grow over consecutive errors only
            delay = result.retry_after if result.retry_after is not None else backoff.next()
            # A plain sleep, not the wake event: new messages must not cut short the
            # pause a failing or throttling homeserver needs. No slot or claim is held,
            # so other rooms go on meanwhile.
            await asyncio.sleep(max(delay, 0.0))
