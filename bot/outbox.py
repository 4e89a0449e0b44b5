"""The outbox: scheduled and non-interactive messages, sent in order of due time per room.

Reminders, nudges and posted cases are not answers to a member who is waiting, so
they do not go straight to the transport. They become ``core_outbox`` rows, and the
worker sends them oldest-due first. An outage or the homeserver's rate limit
delays them; it never loses them (the row stays ``pending`` until it is sent) and
never doubles them:

- every row carries a deterministic transaction id chosen by the caller
  (``events:remind:12:24h``); enqueuing it again is a no-op;
- the send uses that transaction id, and the transport records what it sent and
  returns the earlier event id for a repeat (Synapse de-duplicates too, but only in
  memory and only for a while). So a crash between "sent" and "marked sent" costs
  a repeated request, not a repeated message.

Rooms are independent lanes. A reminder fans out to fifty direct chats, and the
homeserver takes tens of milliseconds per message, so one send at a time made the
fiftieth member wait seconds. The worker therefore runs one lane per room with due
rows, at most ``concurrency`` sends in flight at once. A free slot goes to the oldest
due row, and a row due later waits while an older one is still on its way (a few
seconds at most), so across rooms messages still go in due order; only messages due
together, a reminder's fan-out, go side by side.

Order within a room is kept by never skipping: a lane always takes its room's
pending row with the smallest ``(due_at, id)`` that is due, and a retryable error
retries *that* row after a pause (without holding a slot) instead of moving on. So
an outage in one room holds back that room only; the others go on. A rate limit is
for the whole account, so a 429 pauses every lane for the time the homeserver asked.
Only a message the homeserver refused for good (:class:`~bot.errors.MessageRejected`)
is set aside as ``failed``, with its reason. A rejected token
(:class:`~bot.errors.InvalidCredentials`) stops the worker: every further send would
fail the same way.

Privacy: outbox rows have no member column, so this service registers no
``export_member``/``erase_member``. Messages are addressed to rooms; a message to a
member's DM room is tied to the member only through that room (``core_direct_rooms``),
so the code that erases a member's direct room is where its outbox rows belong too.

Logs name rows by id, transaction id and event id, never by their text.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import func, select, type_coerce, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.backoff import Backoff
from bot.clock import Clock, ensure_utc
from bot.errors import InvalidCredentials, MessageRejected, RateLimited, TransportError
from bot.ids import EventId, RoomId, UserId
from bot.locks import KeyedLocks
from bot.storage.database import Database
from bot.storage.models import OutboxMessage
from bot.transport import OutgoingMessage, Transport

log = logging.getLogger(__name__)

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
STATUSES = (PENDING, SENT, FAILED)

INITIAL_BACKOFF_S = 0.5
"""First pause after a retryable error; doubled per further error, up to the cap."""

DEFAULT_CONCURRENCY = 32
"""Sends in flight at once (to different rooms). Measured with ``bench/events_reminders.py``
on a 2-core machine with a local Synapse, a reminder's fan-out to 50 direct chats: one at
a time its p95 lateness was about 2 s; 8 at once about 1.8 s, 16 about 0.8 s, 32 about
0.6 s and 64 (all at once) about 0.4 s, but then the first message of each reminder is
later too (p95 about 170 ms instead of about 105 ms), as the homeserver works on all of
them side by side. 32 keeps the first message prompt and the homeserver's load bounded."""

ORDER_WAIT_S = 5.0
"""How long a message waits for an older one (due earlier, to another room) still being
sent. Long enough to keep due order through a slow answer; short enough that a send
hanging in one room does not hold up the others for more than a moment."""

MAX_CONCURRENCY = 64
"""A sanity cap: more parallel sends only queue up inside the homeserver."""

# A reason is for an operator reading the table: the class and the start of the
# message are enough, and a short cap keeps a verbose error page out of the row.
_REASON_MAX_CHARS = 300

_Held = AsyncSession | None
"""The transaction holding a row's lock while it is sent (PostgreSQL), or None."""


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return reason[:_REASON_MAX_CHARS]


class _Outcome(Enum):
    SENT = "sent"
    FAILED = "failed"
    RETRY = "retry"


@dataclass(frozen=True)
class _Result:
    outcome: _Outcome
    # Seconds the homeserver asked us to wait (rate limit); None means "use the backoff".
    retry_after: float | None = None


_Key = tuple[datetime, int]


class _OrderedSlots:
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
        self._keys: dict[int, _Key] = {}  # live claims not holding a slot
        self._heap: list[tuple[_Key, int]] = []  # may hold stale entries; see _oldest
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._holders: dict[int, tuple[datetime, float]] = {}  # claim: (due_at, loop time granted)
        self._timer: asyncio.TimerHandle | None = None

    def claim(self, key: _Key) -> int:
        claim = next(self._ids)
        self.rekey(claim, key)
        return claim

    def rekey(self, claim: int, key: _Key) -> None:
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

    def release(self, claim: int, key: _Key) -> None:
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


class Outbox:
    """Durable delivery of scheduled messages, in order per room; one worker per process.

    ``enqueue`` stores a message; ``start`` runs the worker, which sends what is due
    (one lane per room, at most ``concurrency`` sends at once) and sleeps until the
    next due time (at most ``idle_poll_s``) or until woken by an enqueue.
    ``deliver_due`` runs one pass without the worker, for tests and tools.
    """

    def __init__(
        self,
        db: Database,
        transport: Transport,
        clock: Clock,
        *,
        max_backoff_s: float = 5.0,
        idle_poll_s: float = 30.0,
        concurrency: int = DEFAULT_CONCURRENCY,
        order_wait_s: float = ORDER_WAIT_S,
    ) -> None:
        if max_backoff_s <= 0 or idle_poll_s <= 0:
            raise ValueError("max_backoff_s and idle_poll_s must be positive")
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency must be between 1 and {MAX_CONCURRENCY}")
        self._db = db
        self._transport = transport
        self._clock = clock
        self._max_backoff_s = max_backoff_s
        self._idle_poll_s = idle_poll_s
        self.concurrency = concurrency
        self._slots = _OrderedSlots(concurrency, order_wait_s)
        self._wake = asyncio.Event()
        # The worker's lane and a direct deliver_due() must not both pick the same
        # row: the transport would absorb the repeat, but the attempt counts would be
        # wrong. One lock per room with a lane in it; dropped when nobody holds it.
        self._room_locks: KeyedLocks[str] = KeyedLocks()
        self._lanes: dict[str, asyncio.Task[None]] = {}
        # Counts enqueue calls: a lane that ends wakes the worker only if something
        # was queued while it ran (its room may have a new row); otherwise the end of
        # each of fifty lanes would cost the worker a pass over the table.
        self._enqueues = 0
        # Rooms the worker passed over because their lane was busy: it must look again
        # when that lane ends (a later row there has no wake-up planned).
        self._recheck: set[str] = set()
        # Monotonic time (the loop's) before which no lane sends: the homeserver's
        # rate limit counts every message of the account, whichever room it goes to.
        self._throttled_until = 0.0
        self._fatal: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    # -- enqueueing -----------------------------------------------------------------

    async def enqueue(self, message: OutgoingMessage, due_at: datetime | None = None) -> int:
        """Store ``message`` to be sent at ``due_at`` (default: now); returns the row id.

        ``message.txn_id`` is required and must be deterministic: enqueuing the same
        transaction id again returns the existing row's id and changes nothing, so a
        job that runs twice still sends once.
        """
        ids = await self.enqueue_many([message], due_at)
        return ids[0]

    async def enqueue_many(
        self, messages: Sequence[OutgoingMessage], due_at: datetime | None = None
    ) -> list[int]:
        """Store several messages due at the same time in one transaction; their row ids.

        The same rules as :meth:`enqueue`, per message; the rows keep the order given
        (a fan-out to fifty members is one write, not fifty).
        """
        for message in messages:
            if not message.txn_id:
                raise ValueError("an outbox message needs a deterministic txn_id")
            if message.replaces is not None:
                raise ValueError("edits are sent directly, not through the outbox")
        if not messages:
            return []
        now = self._clock.now()
        due = ensure_utc(due_at) if due_at is not None else now
        try:
            ids = await self._insert(messages, due, now)
        except IntegrityError:
            # The same txn id inserted concurrently (PostgreSQL); SQLite's immediate
            # transaction already serialises the check in _insert. The winner's rows
            # are the ones to report; insert what is still missing.
            ids = await self._insert(messages, due, now)
        self._enqueues += 1
        self.wake()
        return ids

    async def _insert(self, messages: Sequence[OutgoingMessage], due: datetime, now: datetime) -> list[int]:
        txn_ids = [str(message.txn_id) for message in messages]
        async with self._db.transaction() as session:
            existing = {
                str(txn): int(row_id)
                for txn, row_id in (
                    await session.execute(
                        select(OutboxMessage.txn_id, OutboxMessage.id).where(
                            OutboxMessage.txn_id.in_(txn_ids)
                        )
                    )
                ).all()
            }
            rows: dict[str, OutboxMessage] = {}
            for message, txn_id in zip(messages, txn_ids, strict=True):
                if txn_id in existing or txn_id in rows:
                    log.debug("outbox txn %s already queued", txn_id)
                    continue
                rows[txn_id] = self._row(message, due, now)
            session.add_all(rows.values())
            await session.flush()
            ids = [existing[txn] if txn in existing else int(rows[txn].id) for txn in txn_ids]
        if rows:
            log.debug("outbox queued %d row(s) for %s", len(rows), due.isoformat())
        return ids

    @staticmethod
    def _row(message: OutgoingMessage, due: datetime, now: datetime) -> OutboxMessage:
        return OutboxMessage(
            txn_id=message.txn_id,
            room_id=message.room_id,
            plain=message.plain,
            html=message.html,
            thread_root=message.thread_root,
            reply_to=message.reply_to,
            mentions={"user_ids": [str(user) for user in message.mentions]},
            notice=message.notice,
            due_at=due,
            created_at=now,
            status=PENDING,
            attempts=0,
            reason=None,
            event_id=None,
            sent_at=None,
        )

    # -- the worker -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the worker task is alive."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start the worker; a second call while it runs does nothing."""
        if self.running:
            return
        self._wake.clear()
        self._fatal = None
        self._task = asyncio.create_task(self._run(), name="outbox-worker")
        self._task.add_done_callback(self._worker_done)

    async def stop(self) -> None:
        """Cancel the worker and its lanes and wait for them; a row being sent stays
        pending and is sent again (same transaction id) at the next start."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        # asyncio.wait neither re-raises the worker's error (the done callback logged
        # it) nor swallows a cancellation of stop() itself.
        await asyncio.wait([task])

    def wake(self) -> None:
        """Make the worker look for due rows now instead of at its next planned wake-up."""
        self._wake.set()

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
        log.info("outbox worker started (up to %d sends at once)", self.concurrency)
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

    async def _start_lanes(self) -> datetime | None:
        """Start a lane for every room with a due row and none yet; returns when the
        next row of a room without a lane falls due (None: nothing waits)."""
        try:
            now = self._clock.now()
            rooms = await self._pending_rooms()
            if any(due <= now and room not in self._lanes for room, due, _ in rooms):
                first_rows = await self._first_due_rows(now)
            else:
                first_rows = {}
        except Exception:
            # A database hiccup: the worker must survive it, but not spin.
            log.exception("outbox worker could not read the pending rooms; retrying")
            return self._clock.now() + timedelta(seconds=self._max_backoff_s)
        next_due: datetime | None = None
        for room, first_due, first_id in rooms:
            if room in self._lanes:
                self._recheck.add(room)
                continue
            if first_due <= now:
                first = (first_due, first_id)
                row = first_rows.get(room)
                lane = asyncio.create_task(self._lane(room, first, row), name=f"outbox-lane-{room}")
                self._lanes[room] = lane
                lane.add_done_callback(functools.partial(self._lane_done, room, self._enqueues))
            elif next_due is None or first_due < next_due:
                next_due = first_due
        return next_due

    def _lane_done(self, room: str, enqueues_at_start: int, task: asyncio.Task[None]) -> None:
        if self._lanes.get(room) is task:
            del self._lanes[room]
        if not task.cancelled() and isinstance(task.exception(), InvalidCredentials):
            self._fatal = task.exception()
            self.wake()
        elif room in self._recheck or self._enqueues != enqueues_at_start:
            # The room may have a row due later, or got one while its lane was finishing.
            self._recheck.discard(room)
            self.wake()

    async def _lane(self, room: str, first: _Key, row: OutboxMessage | None) -> None:
        """Send the room's due rows in order, retrying a failed one until it goes.

        ``row`` is the room's first due row as the worker read it (for all rooms in
        one query), so a fan-out to fifty rooms starts without fifty more reads.
        """
        backoff = Backoff(INITIAL_BACKOFF_S, self._max_backoff_s)
        while True:
            try:
                sent, result = await self._send_room(room, first, patient=True, row=row)
                row = None  # after a pause or a run of sends: read afresh
            except InvalidCredentials:
                raise
            except Exception:
                # A database hiccup, say: the lane must survive it, but not spin.
                log.exception("outbox lane for %s failed; retrying", room)
                sent, result = 0, _Result(_Outcome.RETRY)
            if result is None:
                return
            if sent:
                backoff.reset()  # the pauses grow over consecutive errors only
            delay = result.retry_after if result.retry_after is not None else backoff.next()
            # A plain sleep, not the wake event: new messages must not cut short the
            # pause a failing or throttling homeserver needs. No slot or claim is held,
            # so other rooms go on meanwhile.
            await asyncio.sleep(max(delay, 0.0))

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

    # -- one pass without the worker ----------------------------------------------------

    async def deliver_due(self) -> int:
        """Send every due row once, rooms side by side; returns how many were sent.

        Uses the worker's per-row path but never sleeps: in each room it stops at the
        first row that needs a retry (outage), which stays first in line there; a rate
        limit stops every room. A rejected row is marked failed and its room goes on.
        """
        now = self._clock.now()
        rooms = [(room, (due, first_id)) for room, due, first_id in await self._pending_rooms() if due <= now]
        results = await asyncio.gather(
            *(self._send_room(room, first, patient=False) for room, first in rooms), return_exceptions=True
        )
        sent = 0
        for result in results:
            if isinstance(result, BaseException):
                raise result
            sent += result[0]
        return sent

    # -- the per-row path ------------------------------------------------------------------

    async def _send_room(
        self, room: str, first: _Key, *, patient: bool, row: OutboxMessage | None = None
    ) -> tuple[int, _Result | None]:
        """Send the room's due rows in order until none is due (result None) or one
        needs a retry (that result); with how many went out.

        ``first`` is a key no later than the room's first due row: the room's claim on
        a send slot holds its place in line from the start. ``patient`` waits out a
        rate limit; otherwise a throttled outbox answers RETRY without sending. ``row``,
        when given, is the room's first due row, already read.
        """
        sent = 0
        async with self._room_turn(room):
            claim = self._slots.claim(first)
            try:
                while True:
                    if row is None:
                        row = await self._first_pending(room)
                    if row is None:
                        return sent, None
                    if ensure_utc(row.due_at) > self._clock.now():
                        self._recheck.add(room)  # its lane ends; the worker plans the wake-up
                        return sent, None
                    key = (ensure_utc(row.due_at), int(row.id))
                    self._slots.rekey(claim, key)
                    await self._slots.acquire(claim)
                    try:
                        # Under a rate limit the oldest row is the first to go after it.
                        if await self._wait_out_throttle(patient):
                            result = await self._attempt_claimed(row)
                        else:
                            result = _Result(_Outcome.RETRY)
                    finally:
                        self._slots.release(claim, key)
                    if result.outcome is _Outcome.RETRY:
                        if result.retry_after is not None:
                            self._throttle(result.retry_after)
                        return sent, result
                    if result.outcome is _Outcome.SENT:
                        sent += 1
                    row = None
            finally:
                self._slots.withdraw(claim)

    def _throttle(self, seconds: float) -> None:
        until = asyncio.get_running_loop().time() + seconds
        self._throttled_until = max(self._throttled_until, until)

    async def _wait_out_throttle(self, patient: bool) -> bool:
        """Wait until the account may send again; False (at once) when not ``patient``."""
        loop = asyncio.get_running_loop()
        while (remaining := self._throttled_until - loop.time()) > 0:
            if not patient:
                return False
            await asyncio.sleep(remaining)
        return True

    def _room_turn(self, room: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self._room_locks.hold(room)

    async def _first_pending(self, room: str) -> OutboxMessage | None:
        """The room's next row to send, due or not (the caller looks at ``due_at``)."""
        async with self._db.session() as session:
            return await session.scalar(
                select(OutboxMessage)
                .where(OutboxMessage.status == PENDING, OutboxMessage.room_id == room)
                .order_by(OutboxMessage.due_at, OutboxMessage.id)
                .limit(1)
            )

    async def _first_due_rows(self, now: datetime) -> dict[str, OutboxMessage]:
        """Each room's first due row, in one query (a window function per room)."""
        rank = (
            func.row_number()
            .over(partition_by=OutboxMessage.room_id, order_by=(OutboxMessage.due_at, OutboxMessage.id))
            .label("rank")
        )
        due = (
            select(OutboxMessage.id, rank)
            .where(OutboxMessage.status == PENDING, OutboxMessage.due_at <= now)
            .subquery()
        )
        async with self._db.session() as session:
            rows = await session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.id.in_(select(due.c.id).where(due.c.rank == 1))
                )
            )
            return {row.room_id: row for row in rows.all()}

    async def _pending_rooms(self) -> list[tuple[str, datetime, int]]:
        """Rooms with pending rows, each with its first due time and smallest row id,
        oldest first."""
        first_due = type_coerce(func.min(OutboxMessage.due_at), OutboxMessage.due_at.type)
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(OutboxMessage.room_id, first_due, func.min(OutboxMessage.id))
                    .where(OutboxMessage.status == PENDING)
                    .group_by(OutboxMessage.room_id)
                )
            ).all()
        ordered = sorted(rows, key=lambda row: (ensure_utc(row[1]), row[2]))
        return [(str(room), ensure_utc(due), int(first_id)) for room, due, first_id in ordered]

    async def _attempt_claimed(self, row: OutboxMessage) -> _Result:
        """Send the row while holding it, so that no other process sends it too.

        On PostgreSQL the row is locked (``FOR UPDATE SKIP LOCKED``) for the send and
        marked in the same transaction; a row another process holds, or has sent
        meanwhile, is not sent here and the room is looked at again after a pause (its
        next row must not overtake it). On SQLite the instance lock already keeps a
        second bot off the file, and a write transaction held over a send would stop
        every other writer, so the row is sent without one.
        """
        if self._db.is_sqlite:
            return await self._attempt(row, None)
        async with self._db.transaction() as session:
            held = await session.scalar(
                select(OutboxMessage.id)
                .where(OutboxMessage.id == row.id, OutboxMessage.status == PENDING)
                .with_for_update(skip_locked=True)
            )
            if held is None:
                log.info(
                    "outbox row %d (txn %s) is taken or done elsewhere; looking again later",
                    row.id,
                    row.txn_id,
                )
                return _Result(_Outcome.RETRY)
            return await self._attempt(row, session)

    async def _attempt(self, row: OutboxMessage, session: _Held) -> _Result:
        message = OutgoingMessage(
            room_id=RoomId(row.room_id),
            plain=row.plain,
            html=row.html,
            thread_root=EventId(row.thread_root) if row.thread_root else None,
            reply_to=EventId(row.reply_to) if row.reply_to else None,
            mentions=tuple(UserId(user) for user in (row.mentions or {}).get("user_ids", [])),
            notice=row.notice,
            txn_id=row.txn_id,
        )
        try:
            event_id = await self._transport.send(message)
        except RateLimited as exc:
            await self._record_error(row, exc, session)
            log.warning(
                "outbox row %d (txn %s) rate limited; retrying it after %s s",
                row.id,
                row.txn_id,
                exc.retry_after if exc.retry_after is not None else "a backoff",
            )
            return _Result(_Outcome.RETRY, exc.retry_after)
        except MessageRejected as exc:
            await self._mark_failed(row, exc, session)
            log.warning(
                "outbox row %d (txn %s) rejected for good: %s", row.id, row.txn_id, type(exc).__name__
            )
            return _Result(_Outcome.FAILED)
        except InvalidCredentials:
            log.error(
                "homeserver rejected the bot's credentials sending outbox row %d (txn %s); "
                "stopping the outbox",
                row.id,
                row.txn_id,
            )
            raise
        except TransportError as exc:
            await self._record_error(row, exc, session)
            log.warning(
                "outbox row %d (txn %s) not sent (%s); will retry", row.id, row.txn_id, type(exc).__name__
            )
            return _Result(_Outcome.RETRY)
        except Exception as exc:
            # Not a known transport failure: probably a bug, so keep the traceback; but
            # dropping the message would lose it, so it is retried like an outage.
            log.exception("outbox row %d (txn %s) failed unexpectedly; will retry", row.id, row.txn_id)
            await self._record_error(row, exc, session)
            return _Result(_Outcome.RETRY)
        await self._mark_sent(row, event_id, session)
        log.info("outbox row %d (txn %s) sent as %s", row.id, row.txn_id, event_id)
        return _Result(_Outcome.SENT)

    async def _write(self, statement: Any, session: _Held) -> None:
        """Run an update in the session holding the row's lock, or on its own."""
        if session is not None:
            await session.execute(statement)
        else:
            await self._db.execute_one(statement)

    async def _mark_sent(self, row: OutboxMessage, event_id: EventId, session: AsyncSession | None) -> None:
        # The last error's reason is kept: "sent, after an outage" is worth knowing.
        await self._write(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.status == PENDING)
            .values(
                status=SENT,
                event_id=str(event_id),
                sent_at=self._clock.now(),
                attempts=OutboxMessage.attempts + 1,
            ),
            session,
        )

    async def _mark_failed(self, row: OutboxMessage, exc: BaseException, session: _Held) -> None:
        await self._write(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.status == PENDING)
            .values(status=FAILED, reason=_reason(exc), attempts=OutboxMessage.attempts + 1),
            session,
        )

    async def _record_error(self, row: OutboxMessage, exc: BaseException, session: _Held) -> None:
        await self._write(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.status == PENDING)
            .values(reason=_reason(exc), attempts=OutboxMessage.attempts + 1),
            session,
        )

    # -- inspection ----------------------------------------------------------------------

    async def backlog(self) -> int:
        """How many rows wait to be sent (due or not)."""
        async with self._db.session() as session:
            count = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == PENDING)
            )
        return int(count or 0)

    async def stats(self) -> dict[str, int]:
        """Rows by status; every status is present, zero when there are none."""
        counts = dict.fromkeys(STATUSES, 0)
        async with self._db.session() as session:
            rows = await session.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            )
            for status, count in rows.all():
                counts[str(status)] = int(count)
        return counts

    async def pending(self, limit: int = 50) -> list[OutboxMessage]:
        """The next ``limit`` rows to be sent, in the order they will go."""
        async with self._db.session() as session:
            rows = await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.status == PENDING)
                .order_by(OutboxMessage.due_at, OutboxMessage.id)
                .limit(limit)
            )
            return list(rows.all())
