"""Which events were handled: claims before handling, statuses and the token after.

An event is claimed durably (``core_processed_events``, status ``started``) before the
core sees it, so a crash or a replay never answers it twice. Its final status (done |
failed) and the sync token of the last complete batch are written together in one
checkpoint, shortly after the batch: after a restart the bot resumes after the last
handled batch and skips what it already answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.ids import RoomId
from bot.matrix import events, state
from bot.storage.database import Database, log_failure
from bot.storage.models import ProcessedEvent
from bot.storage.results import rowcount

log = logging.getLogger(__name__)

MAX_EVENT_ATTEMPTS = 3
#: Processed-event rows older than this are deleted at start (and daily, bot/retention.py).
PROCESSED_RETENTION = timedelta(days=30)
RECENT_IN_MEMORY = 20_000
TOKEN_ONLY_CHECKPOINT_INTERVAL = timedelta(seconds=5)
CHECKPOINT_DELAY_S = 0.25


class _Outcome(NamedTuple):
    room_id: RoomId
    origin_ts: datetime
    status: str


class EventLedger:
    """Claims, outcomes and checkpoints of the events this loop handles."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._checkpoint_at: datetime | None = None
        # Events handled since the last checkpoint, and (bounded) those handled before
        # it in this run; dicts keep insertion order, so the oldest are dropped first.
        self._outcomes: dict[str, _Outcome] = {}
        self._recent: dict[str, _Outcome] = {}
        self._completed_token: str | None = None
        self._checkpoint_task: asyncio.Task[None] | None = None

    @property
    def checkpoint_at(self) -> datetime | None:
        """When the sync token was last stored (None: never)."""
        return self._checkpoint_at

    async def resume(self) -> str | None:
        """Load where the last run stopped and prune old claims; the token to resume from."""
        stored = await state.load(self._db, state.NEXT_BATCH, state.CHECKPOINT_AT)
        token = stored.get(state.NEXT_BATCH)
        self._completed_token = token
        self._checkpoint_at = state.decode_time(stored.get(state.CHECKPOINT_AT))
        await self._prune_processed()
        return token

    # -- claims ----------------------------------------------------------------------

    def known(self, event_id: str) -> bool:
        """Handled (or being handled) in this run."""
        return event_id in self._outcomes or event_id in self._recent

    async def claim(self, room_id: RoomId, ev: events.EventBasics) -> bool:
        """Claim the event durably before handling it; False when it was claimed before.

        One ``INSERT … ON CONFLICT DO NOTHING`` on a plain connection (no ORM session):
        the only write on the path from a command to its reply. The final status
        (done | failed) follows in the checkpoint's transaction.
        """
        if self.known(ev.event_id):
            return False
        claimed = await self._db.execute_one(
            self._db.insert(ProcessedEvent)
            .values(
                event_id=ev.event_id,
                room_id=room_id,
                status="started",
                received_at=self._clock.now(),
                origin_ts=ev.timestamp,
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
        )
        if rowcount(claimed) != 1 and not await self._resume_interrupted(ev.event_id):
            return False
        self._outcomes[ev.event_id] = _Outcome(room_id, ev.timestamp, "started")
        return True

    def release(self, event_id: str) -> None:
        """The claimed event was not handled (a database outage): it stays claimed as started
        in the database and is taken up again when the batch is fetched again."""
        self._outcomes.pop(event_id, None)

    def finish(self, event_id: str, status: str) -> None:
        """The claimed event was handled: ``done`` or ``failed``, written at the next checkpoint."""
        self._outcomes[event_id] = self._outcomes[event_id]._replace(status=status)

    async def _resume_interrupted(self, event_id: str) -> bool:
        """True when an earlier run began handling the event and died before finishing.

        Such an event is handled again (its replies carry the same transaction ids, so
        what was already sent is not sent twice), at most ``MAX_EVENT_ATTEMPTS`` times:
        an event that kills the bot every time must not keep it from starting.
        """
        resumed = await self._db.execute_one(
            update(ProcessedEvent)
            .where(
                ProcessedEvent.event_id == event_id,
                ProcessedEvent.status == "started",
                ProcessedEvent.attempts < MAX_EVENT_ATTEMPTS,
            )
            .values(attempts=ProcessedEvent.attempts + 1)
        )
        if rowcount(resumed) == 1:
            log.info("handling %s again: an earlier run was interrupted while handling it", event_id)
            return True
        gave_up = await self._db.execute_one(
            update(ProcessedEvent)
            .where(ProcessedEvent.event_id == event_id, ProcessedEvent.status == "started")
            .values(status="failed")
        )
        if rowcount(gave_up):
            log.error("giving up on %s after %d interrupted attempts", event_id, MAX_EVENT_ATTEMPTS)
        return False

    async def processed_ids(self, event_ids: Sequence[Any]) -> set[str]:
        """Those of ``event_ids`` handled before, in this run or an earlier one."""
        ids = [e for e in event_ids if isinstance(e, str)]
        if not ids:
            return set()
        known = {e for e in ids if self.known(e)}
        async with self._db.session() as session:
            rows = await session.execute(
                select(ProcessedEvent.event_id).where(ProcessedEvent.event_id.in_(ids))
            )
            return known | set(rows.scalars())

    async def _prune_processed(self) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                delete(ProcessedEvent).where(
                    ProcessedEvent.received_at < self._clock.now() - PROCESSED_RETENTION
                )
            )

    # -- checkpoints -----------------------------------------------------------------

    def batch_completed(self, token: str) -> None:
        """Every event of the batch before ``token`` was handled (or claimed)."""
        self._completed_token = token
        if self._outcomes or self._token_is_stale():
            self.checkpoint_soon()

    async def final_checkpoint(self) -> None:
        # Statuses of handled events, and the token of the last complete batch, are
        # written even when the loop ends early.
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._checkpoint_task
        with contextlib.suppress(Exception):
            await self._checkpoint(self._completed_token)

    def _token_is_stale(self) -> bool:
        """A batch without handled events (the bot's own replies, typing) only moves the
        token; saving that at most every few seconds halves the writes per command. A
        token not saved is harmless: the events after it are recognised as handled."""
        return self._checkpoint_at is None or (
            self._clock.now() - self._checkpoint_at >= TOKEN_ONLY_CHECKPOINT_INTERVAL
        )

    def checkpoint_soon(self) -> None:
        """Write a checkpoint shortly, off the path of the next reply.

        Writing right after every batch put a transaction between each answer and the
        next long-poll, on a machine the homeserver shares; a short delay batches the
        writes of a busy moment into one. A crash in the delay loses nothing: events
        claimed as started are handled again and their replies are recognised as sent.
        """
        if self._checkpoint_task is None or self._checkpoint_task.done():
            self._checkpoint_task = asyncio.create_task(self._delayed_checkpoint(), name="sync-checkpoint")

    async def _delayed_checkpoint(self) -> None:
        await asyncio.sleep(CHECKPOINT_DELAY_S)
        try:
            await self._checkpoint(self._completed_token)
        except Exception as exc:
            log_failure(log, exc, "checkpoint failed; it is retried after the next batch")

    async def _checkpoint(self, token: str | None) -> None:
        """Store the token (if given) and the statuses of the events handled since the last one.

        Only finished events are written; one still being handled keeps its claim.
        """
        now = self._clock.now()
        values = {state.NEXT_BATCH: token, state.CHECKPOINT_AT: state.encode_time(now)} if token else {}
        finished = {k: v for k, v in self._outcomes.items() if v.status != "started"}
        if not values and not finished:
            return
        for event_id in finished:  # taken out before awaiting: the loop may add more
            del self._outcomes[event_id]
        try:
            async with self._db.transaction() as session:
                await state.save_in(session, values)
                await self._write_outcomes(session, finished)
        except BaseException:
            self._outcomes.update(finished)
            raise
        self._recent.update(finished)
        if len(self._recent) > RECENT_IN_MEMORY:
            # Keep the newest half; older ones are in the database for gap filling.
            for event_id in list(self._recent)[: len(self._recent) // 2]:
                del self._recent[event_id]
        if token:
            self._checkpoint_at = now

    async def _write_outcomes(self, session: AsyncSession, outcomes: dict[str, _Outcome]) -> None:
        """Record handled events (done | failed) in the checkpoint's transaction."""
        if not outcomes:
            return
        now = self._clock.now()
        rows = [
            {
                "event_id": event_id,
                "room_id": outcome.room_id,
                "status": outcome.status,
                "received_at": now,
                "origin_ts": outcome.origin_ts,
            }
            for event_id, outcome in outcomes.items()
        ]
        statement = self._db.insert(ProcessedEvent).values(rows)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["event_id"], set_={"status": statement.excluded.status}
            )
        )
