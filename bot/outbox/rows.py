"""The outbox rows (``core_outbox``): queued, read in due order per room, marked.

A row is ``pending`` until it is sent (``sent``, with its event id) or refused for good
(``failed``, with the reason); every mark is conditional on ``pending``, so a row is
marked once however many times it is tried.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, ensure_utc
from bot.ids import EventId
from bot.storage.database import Database
from bot.storage.models import OutboxMessage
from bot.transport import OutgoingMessage

log = logging.getLogger(__name__)

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
STATUSES = (PENDING, SENT, FAILED)

# A reason is for an operator reading the table: the class and the start of the
# message are enough, and a short cap keeps a verbose error page out of the row.
_REASON_MAX_CHARS = 300

Held = AsyncSession | None
"""The transaction holding a row's lock while it is sent (PostgreSQL), or None."""


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return reason[:_REASON_MAX_CHARS]


def _new_row(message: OutgoingMessage, due: datetime, now: datetime) -> OutboxMessage:
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


class OutboxRows:
    """Reads and writes ``core_outbox``; knows nothing of lanes or the transport."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A write transaction, to hold a row's lock over its send."""
        return self._db.transaction()

    @property
    def holds_rows_while_sending(self) -> bool:
        """PostgreSQL locks a row for its send; SQLite's instance lock keeps a second
        bot off the file, and a write transaction held over a send would stop every
        other writer."""
        return not self._db.is_sqlite

    # -- queueing ---------------------------------------------------------------------

    async def insert(self, messages: Sequence[OutgoingMessage], due: datetime, now: datetime) -> list[int]:
        """Insert the messages whose transaction id is new; every message's row id."""
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
                rows[txn_id] = _new_row(message, due, now)
            session.add_all(rows.values())
            await session.flush()
            ids = [existing[txn] if txn in existing else int(rows[txn].id) for txn in txn_ids]
        if rows:
            log.debug("outbox queued %d row(s) for %s", len(rows), due.isoformat())
        return ids

    # -- reading in due order -------------------------------------------------------------

    async def first_pending(self, room: str) -> OutboxMessage | None:
        """The room's next row to send, due or not (the caller looks at ``due_at``)."""
        async with self._db.session() as session:
            return await session.scalar(
                select(OutboxMessage)
                .where(OutboxMessage.status == PENDING, OutboxMessage.room_id == room)
                .order_by(OutboxMessage.due_at, OutboxMessage.id)
                .limit(1)
            )

    async def first_due_rows(self, now: datetime) -> dict[str, OutboxMessage]:
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
                select(OutboxMessage).where(OutboxMessage.id.in_(select(due.c.id).where(due.c.rank == 1)))
            )
            return {row.room_id: row for row in rows.all()}

    async def pending_rooms(self) -> list[tuple[str, datetime, int]]:
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

    # -- marking ----------------------------------------------------------------------------

    async def lock_pending(self, session: AsyncSession, row: OutboxMessage) -> bool:
        """Lock the row for its send (``FOR UPDATE SKIP LOCKED``); False when another
        process holds it or it is no longer pending."""
        held = await session.scalar(
            select(OutboxMessage.id)
            .where(OutboxMessage.id == row.id, OutboxMessage.status == PENDING)
            .with_for_update(skip_locked=True)
        )
        return held is not None

    async def mark_sent(self, row: OutboxMessage, event_id: EventId, session: Held) -> None:
        # The last error's reason is kept: "sent, after an outage" is worth knowing.
        await self._mark(
            row,
            {"status": SENT, "event_id": str(event_id), "sent_at": self._clock.now()},
            session,
        )

    async def mark_failed(self, row: OutboxMessage, exc: BaseException, session: Held) -> None:
        await self._mark(row, {"status": FAILED, "reason": _reason(exc)}, session)

    async def record_error(self, row: OutboxMessage, exc: BaseException, session: Held) -> None:
        await self._mark(row, {"reason": _reason(exc)}, session)

    async def _mark(self, row: OutboxMessage, values: dict[str, Any], session: Held) -> None:
        """Count an attempt of a pending row and write ``values``, in the session
        holding the row's lock or on its own."""
        statement = (
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.status == PENDING)
            .values(**values, attempts=OutboxMessage.attempts + 1)
        )
        if session is not None:
            await session.execute(statement)
        else:
            await self._db.execute_one(statement)

    # -- inspection ---------------------------------------------------------------------------

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
