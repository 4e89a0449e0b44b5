"""One try at sending one row, and what it means for the row's room.

Only a message the homeserver refused for good (:class:`~bot.errors.MessageRejected`)
is set aside as ``failed``, with its reason; a rate limit or an outage leaves the row
first in line, to be retried. A rejected token (:class:`~bot.errors.InvalidCredentials`)
is raised: every further send would fail the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from bot.errors import InvalidCredentials, MessageRejected, RateLimited, TransportError
from bot.ids import EventId, RoomId, UserId
from bot.outbox.rows import Held, OutboxRows
from bot.storage.models import OutboxMessage
from bot.transport import OutgoingMessage, Transport

log = logging.getLogger(__name__)


class Outcome(Enum):
    SENT = "sent"
    FAILED = "failed"
    RETRY = "retry"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    # Seconds the homeserver asked us to wait (rate limit); None means "use the backoff".
    retry_after: float | None = None


RETRY = Result(Outcome.RETRY)


def _message(row: OutboxMessage) -> OutgoingMessage:
    return OutgoingMessage(
        room_id=RoomId(row.room_id),
        plain=row.plain,
        html=row.html,
        thread_root=EventId(row.thread_root) if row.thread_root else None,
        reply_to=EventId(row.reply_to) if row.reply_to else None,
        mentions=tuple(UserId(user) for user in (row.mentions or {}).get("user_ids", [])),
        notice=row.notice,
        txn_id=row.txn_id,
    )


class SendAttempt:
    """Sends a row through the transport and marks it by what happened."""

    def __init__(self, rows: OutboxRows, transport: Transport) -> None:
        self._rows = rows
        self._transport = transport

    async def claimed(self, row: OutboxMessage) -> Result:
        """Send the row while holding it, so that no other process sends it too.

        On PostgreSQL the row is locked (``FOR UPDATE SKIP LOCKED``) for the send and
        marked in the same transaction; a row another process holds, or has sent
        meanwhile, is not sent here and the room is looked at again after a pause (its
        next row must not overtake it). On SQLite the instance lock already keeps a
        second bot off the file, and a write transaction held over a send would stop
        every other writer, so the row is sent without one.
        """
        if not self._rows.holds_rows_while_sending:
            return await self._attempt(row, None)
        async with self._rows.transaction() as session:
            if not await self._rows.lock_pending(session, row):
                log.info(
                    "outbox row %d (txn %s) is taken or done elsewhere; looking again later",
                    row.id,
                    row.txn_id,
                )
                return RETRY
            return await self._attempt(row, session)

    async def _attempt(self, row: OutboxMessage, session: Held) -> Result:
        try:
            event_id = await self._transport.send(_message(row))
        except RateLimited as exc:
            await self._rows.record_error(row, exc, session)
            log.warning(
                "outbox row %d (txn %s) rate limited; retrying it after %s s",
                row.id,
                row.txn_id,
                exc.retry_after if exc.retry_after is not None else "a backoff",
            )
            return Result(Outcome.RETRY, exc.retry_after)
        except MessageRejected as exc:
            await self._rows.mark_failed(row, exc, session)
            log.warning(
                "outbox row %d (txn %s) rejected for good: %s", row.id, row.txn_id, type(exc).__name__
            )
            return Result(Outcome.FAILED)
        except InvalidCredentials:
            log.error(
                "homeserver rejected the bot's credentials sending outbox row %d (txn %s); "
                "stopping the outbox",
                row.id,
                row.txn_id,
            )
            raise
        except TransportError as exc:
            await self._rows.record_error(row, exc, session)
            log.warning(
                "outbox row %d (txn %s) not sent (%s); will retry", row.id, row.txn_id, type(exc).__name__
            )
            return RETRY
        except Exception as exc:
            # Not a known transport failure: probably a bug, so keep the traceback; but
            # dropping the message would lose it, so it is retried like an outage.
            log.exception("outbox row %d (txn %s) failed unexpectedly; will retry", row.id, row.txn_id)
            await self._rows.record_error(row, exc, session)
            return RETRY
        await self._rows.mark_sent(row, event_id, session)
        log.info("outbox row %d (txn %s) sent as %s", row.id, row.txn_id, event_id)
        return Result(Outcome.SENT)
