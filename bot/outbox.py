"""The outbox: scheduled and non-interactive messages, sent in order of due time.

Reminders, nudges and posted cases are not answers to a member who is waiting, so
they do not go straight to the transport. They become ``core_outbox`` rows, and one
worker sends them oldest-due first. An outage or the homeserver's rate limit
delays them; it never loses them (the row stays ``pending`` until it is sent) and
never doubles them:

- every row carries a deterministic transaction id chosen by the caller
  (``events:remind:12:24h``); enqueuing it again is a no-op;
- the send uses that transaction id, and the transport records what it sent and
  returns the earlier event id for a repeat (Synapse de-duplicates too, but only in
  memory and only for a while). So a crash between "sent" and "marked sent" costs
  a repeated request, not a repeated message.

Order is kept by never skipping: the worker always takes the pending row with the
smallest ``(due_at, id)`` that is due, and a retryable error retries *that* row
after a pause instead of moving on. Only a message the homeserver refused for good
(:class:`~bot.errors.MessageRejected`) is set aside as ``failed``, with its reason.
A rejected token (:class:`~bot.errors.InvalidCredentials`) stops the worker: every
further send would fail the same way.

Privacy: outbox rows have no member column, so this service registers no
``export_member``/``erase_member``. Messages are addressed to rooms; a message to a
member's DM room is tied to the member only through that room (``core_direct_rooms``),
so the code that erases a member's direct room is where its outbox rows belong too.

Logs name rows by id, transaction id and event id, never by their text.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from bot.backoff import Backoff
from bot.clock import Clock, ensure_utc
from bot.errors import InvalidCredentials, MessageRejected, RateLimited, TransportError
from bot.ids import EventId, RoomId, UserId
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

# A reason is for an operator reading the table: the class and the start of the
# message are enough, and a short cap keeps a verbose error page out of the row.
_REASON_MAX_CHARS = 300


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


class Outbox:
    """Durable, ordered delivery of scheduled messages; one worker per process.

    ``enqueue`` stores a message; ``start`` runs the worker, which sends what is due
    and sleeps until the next due time (at most ``idle_poll_s``) or until woken by an
    enqueue. ``deliver_due`` runs one pass without the worker, for tests and tools.
    """

    def __init__(
        self,
        db: Database,
        transport: Transport,
        clock: Clock,
        *,
        max_backoff_s: float = 5.0,
        idle_poll_s: float = 30.0,
    ) -> None:
        if max_backoff_s <= 0 or idle_poll_s <= 0:
            raise ValueError("max_backoff_s and idle_poll_s must be positive")
        self._db = db
        self._transport = transport
        self._clock = clock
        self._max_backoff_s = max_backoff_s
        self._idle_poll_s = idle_poll_s
        self._wake = asyncio.Event()
        # The worker and a direct deliver_due() must not both pick the same row: the
        # transport would absorb the repeat, but the attempt counts would be wrong.
        self._sending = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    # -- enqueueing -----------------------------------------------------------------

    async def enqueue(self, message: OutgoingMessage, due_at: datetime | None = None) -> int:
        """Store ``message`` to be sent at ``due_at`` (default: now); returns the row id.

        ``message.txn_id`` is required and must be deterministic: enqueuing the same
        transaction id again returns the existing row's id and changes nothing, so a
        job that runs twice still sends once.
        """
        if not message.txn_id:
            raise ValueError("an outbox message needs a deterministic txn_id")
        if message.replaces is not None:
            raise ValueError("edits are sent directly, not through the outbox")
        now = self._clock.now()
        due = ensure_utc(due_at) if due_at is not None else now
        try:
            async with self._db.transaction() as session:
                existing = await session.scalar(
                    select(OutboxMessage.id).where(OutboxMessage.txn_id == message.txn_id)
                )
                if existing is not None:
                    log.debug("outbox txn %s already queued as row %d", message.txn_id, existing)
                    return int(existing)
                row = OutboxMessage(
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
                session.add(row)
                await session.flush()
                row_id = int(row.id)
        except IntegrityError:
            # The same txn id inserted concurrently (PostgreSQL); SQLite's immediate
            # transaction already serialises the check above.
            async with self._db.session() as session:
                existing = await session.scalar(
                    select(OutboxMessage.id).where(OutboxMessage.txn_id == message.txn_id)
                )
            if existing is None:
                raise
            return int(existing)
        log.debug("outbox row %d (txn %s) queued for %s", row_id, message.txn_id, due.isoformat())
        self.wake()
        return row_id

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
        self._task = asyncio.create_task(self._run(), name="outbox-worker")
        self._task.add_done_callback(self._worker_done)

    async def stop(self) -> None:
        """Cancel the worker and wait for it; a row being sent stays pending and is
        sent again (same transaction id) at the next start."""
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
        log.info("outbox worker started")
        backoff = Backoff(INITIAL_BACKOFF_S, self._max_backoff_s)  # over consecutive retryable errors
        while True:
            # Cleared before looking, so an enqueue that lands after the query still
            # wakes the wait below instead of being missed.
            self._wake.clear()
            try:
                result = await self._deliver_next()
            except InvalidCredentials:
                raise
            except Exception:
                # A database hiccup, say: the worker must survive it, but not spin.
                log.exception("outbox worker pass failed; retrying")
                result = _Result(_Outcome.RETRY)
            if result is None:
                backoff.reset()
                await self._wait_for_work()
            elif result.outcome is _Outcome.RETRY:
                if result.retry_after is not None:
                    delay = max(result.retry_after, 0.0)
                else:
                    delay = backoff.next()
                # A plain sleep, not the wake event: new messages must not cut short
                # the pause a failing or throttling homeserver needs.
                await asyncio.sleep(delay)
            else:
                backoff.reset()

    async def _wait_for_work(self) -> None:
        """Sleep until the next row is due (at most ``idle_poll_s``) or until woken."""
        delay = self._idle_poll_s
        try:
            next_due = await self._next_due_at()
        except Exception:
            # The worker outlives a database hiccup; look again after a short pause.
            log.exception("outbox worker could not read the next due time")
            next_due, delay = None, self._max_backoff_s
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
        """Send every due row in order, once; returns how many were sent.

        Uses the worker's per-row path but never sleeps: it stops at the first row
        that needs a retry (rate limit, outage), which stays first in line. A rejected
        row is marked failed and the pass goes on.
        """
        sent = 0
        while True:
            result = await self._deliver_next()
            if result is None or result.outcome is _Outcome.RETRY:
                return sent
            if result.outcome is _Outcome.SENT:
                sent += 1

    # -- the per-row path ------------------------------------------------------------------

    async def _deliver_next(self) -> _Result | None:
        """Try the first due row; None when nothing is due."""
        async with self._sending:
            row = await self._first_due()
            if row is None:
                return None
            return await self._attempt(row)

    async def _first_due(self) -> OutboxMessage | None:
        async with self._db.session() as session:
            return await session.scalar(
                select(OutboxMessage)
                .where(OutboxMessage.status == PENDING, OutboxMessage.due_at <= self._clock.now())
                .order_by(OutboxMessage.due_at, OutboxMessage.id)
                .limit(1)
            )

    async def _next_due_at(self) -> datetime | None:
        async with self._db.session() as session:
            # Ordered, not min(): the column's type then turns the value into aware UTC.
            return await session.scalar(
                select(OutboxMessage.due_at)
                .where(OutboxMessage.status == PENDING)
                .order_by(OutboxMessage.due_at, OutboxMessage.id)
                .limit(1)
            )

    async def _attempt(self, row: OutboxMessage) -> _Result:
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
            await self._record_error(row, exc)
            log.warning(
                "outbox row %d (txn %s) rate limited; retrying it after %s s",
                row.id,
                row.txn_id,
                exc.retry_after if exc.retry_after is not None else "a backoff",
            )
            return _Result(_Outcome.RETRY, exc.retry_after)
        except MessageRejected as exc:
            await self._mark_failed(row, exc)
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
            await self._record_error(row, exc)
            log.warning(
                "outbox row %d (txn %s) not sent (%s); will retry", row.id, row.txn_id, type(exc).__name__
            )
            return _Result(_Outcome.RETRY)
        except Exception as exc:
            # Not a known transport failure: probably a bug, so keep the traceback; but
            # dropping the message would lose it, so it is retried like an outage.
            log.exception("outbox row %d (txn %s) failed unexpectedly; will retry", row.id, row.txn_id)
            await self._record_error(row, exc)
            return _Result(_Outcome.RETRY)
        await self._mark_sent(row, event_id)
        log.info("outbox row %d (txn %s) sent as %s", row.id, row.txn_id, event_id)
        return _Result(_Outcome.SENT)

    async def _mark_sent(self, row: OutboxMessage, event_id: EventId) -> None:
        # The last error's reason is kept: "sent, after an outage" is worth knowing.
        await self._db.execute_one(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.status == PENDING)
            .values(
                status=SENT,
                event_id=str(event_id),
                sent_at=self._clock.now(),
                attempts=OutboxMessage.attempts + 1,
            )
        )

    async def _mark_failed(self, row: OutboxMessage, exc: BaseException) -> None:
        await self._db.execute_one(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.status == PENDING)
            .values(status=FAILED, reason=_reason(exc), attempts=OutboxMessage.attempts + 1)
        )

    async def _record_error(self, row: OutboxMessage, exc: BaseException) -> None:
        await self._db.execute_one(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.status == PENDING)
            .values(reason=_reason(exc), attempts=OutboxMessage.attempts + 1)
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
