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

The parts: :mod:`~bot.outbox.rows` (the table), :mod:`~bot.outbox.worker` (the lanes),
:mod:`~bot.outbox.delivery` (one room's rows in order), :mod:`~bot.outbox.slots` (due
order across rooms), :mod:`~bot.outbox.throttle` (the rate-limit pause) and
:mod:`~bot.outbox.attempt` (one send); :class:`Outbox` is what the core uses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from bot.clock import Clock, ensure_utc
from bot.outbox.attempt import SendAttempt
from bot.outbox.delivery import RoomDelivery
from bot.outbox.rows import OutboxRows
from bot.outbox.slots import OrderedSlots
from bot.outbox.worker import Worker
from bot.storage.database import Database
from bot.storage.models import OutboxMessage
from bot.transport import OutgoingMessage, Transport

log = logging.getLogger(__name__)

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
        self._clock = clock
        self.concurrency = concurrency
        self._rows = OutboxRows(db, clock)
        slots = OrderedSlots(concurrency, order_wait_s)
        self._delivery = RoomDelivery(self._rows, SendAttempt(self._rows, transport), clock, slots)
        self._worker = Worker(
            self._rows,
            self._delivery,
            clock,
            max_backoff_s=max_backoff_s,
            idle_poll_s=idle_poll_s,
            concurrency=concurrency,
        )

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
            ids = await self._rows.insert(messages, due, now)
        except IntegrityError:
            # The same txn id inserted concurrently (PostgreSQL); SQLite's immediate
            # transaction already serialises the check in insert. The winner's rows
            # are the ones to report; insert what is still missing.
            ids = await self._rows.insert(messages, due, now)
        self._worker.enqueued()
        return ids

    # -- the worker -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the worker task is alive."""
        return self._worker.running

    async def start(self) -> None:
        """Start the worker; a second call while it runs does nothing."""
        self._worker.start()

    async def stop(self) -> None:
        """Cancel the worker and its lanes and wait for them; a row being sent stays
        pending and is sent again (same transaction id) at the next start."""
        await self._worker.stop()

    def wake(self) -> None:
        """Make the worker look for due rows now instead of at its next planned wake-up."""
        self._worker.wake()

    # -- one pass without the worker ----------------------------------------------------

    async def deliver_due(self) -> int:
        """Send every due row once, rooms side by side; returns how many were sent.

        Uses the worker's per-row path but never sleeps: in each room it stops at the
        first row that needs a retry (outage), which stays first in line there; a rate
        limit stops every room. A rejected row is marked failed and its room goes on.
        """
        now = self._clock.now()
        rooms = [
            (room, (due, first_id)) for room, due, first_id in await self._rows.pending_rooms() if due <= now
        ]
        results = await asyncio.gather(
            *(self._delivery.send_room(room, first, patient=False) for room, first in rooms),
            return_exceptions=True,
        )
        sent = 0
        for result in results:
            if isinstance(result, BaseException):
                raise result
            sent += result[0]
        return sent

    # -- inspection ----------------------------------------------------------------------

    async def backlog(self) -> int:
        """How many rows wait to be sent (due or not)."""
        return await self._rows.backlog()

    async def stats(self) -> dict[str, int]:
        """Rows by status; every status is present, zero when there are none."""
        return await self._rows.stats()

    async def pending(self, limit: int = 50) -> list[OutboxMessage]:
        """The next ``limit`` rows to be sent, in the order they will go."""
        return await self._rows.pending(limit)
