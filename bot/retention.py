"""Retention: the core's tables keep what the bot still needs, and no more.

The job runs once at start and then daily at 04:17 local time (a recurring scheduler
job, ``core:retention``). Every rule below is safe to repeat and touches only rows
that nothing can read or re-create any more; the periods are the documented ones
(README, "Privacy and operations"):

* ``core_outbox``: sent and failed messages (with their full texts) 30 days after they
  were sent (failed ones: after they were due). Pending ones are never touched. The
  outbox refuses a second row with the same transaction id; what could enqueue the
  same id again (a job's retry, an event handled again after a crash) is over within
  days: a job is never run again once finished (and cannot be re-created, see below),
  and an incoming event older than the catch-up window is never handled again.
* ``core_jobs``: finished one-off jobs (done, missed, failed, cancelled) once both their
  run time and their finishing lie 90 days back (``FINISHED_JOB_RETENTION``). Features
  make sure at start that their jobs exist (``replace=False``, ``schedule_many``); the
  scheduler refuses to create a job that way whose run time is that far in the past
  (its row may have been pruned), so a deleted job is never re-created and run again.
* ``core_nudges``: the parameters (texts quoted in nudges) of sent and dropped nudges
  are emptied 30 days after sending (dropped ones: after creation). The rows stay:
  their ``dedupe_key`` keeps a "once ever" nudge (a check-in round, an invitation, the
  one hint to write an introduction) from being planned again. Only a nudge with an
  expiry (a digest) whose expiry and sending lie more than 8 days back is deleted: a
  request with the same key after its expiry is stored as dropped and never sent, and
  the weekly budget counts only the current week (7 days).
* ``core_seen_reactions``: 365 days. Only reactions on the bot's own events are kept
  (see bot/matrix/sync/reactions.py), to report a withdrawal; a card a year old belongs to an
  event long past, where taking the reaction back changes nothing.
* ``core_processed_events``: after ``PROCESSED_RETENTION`` (30 days), as the sync loop
  does at start; it never handles events older than the catch-up window.
* ``core_sent_messages``: after ``SENT_RETENTION`` (7 days), as the sender does at start.
* ``core_polls`` and their ``core_poll_votes``: 90 days after a poll closed, or a year
  after it opened when it never closed (a conversation's question, answered long ago).
  A vote on a deleted poll is not ours any more and is ignored like any unknown poll.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, delete, func, or_, select, update

from bot.clock import Clock
from bot.matrix.sending import SENT_RETENTION
from bot.matrix.sync.checkpoint import PROCESSED_RETENTION
from bot.registry import Feature
from bot.scheduler import SchedulerService
from bot.scheduler.job_rows import FINISHED_JOB_RETENTION
from bot.services import Services
from bot.storage.database import Database
from bot.storage.models import (
    Nudge,
    OutboxMessage,
    PollRow,
    PollVoteRow,
    ProcessedEvent,
    ScheduledJob,
    SeenReaction,
    SentMessage,
)
from bot.storage.results import rowcount

log = logging.getLogger(__name__)

RETENTION_KIND = "core:retention"
RETENTION_CRON = "17 4 * * *"

OUTBOX_RETENTION = timedelta(days=30)
NUDGE_PARAMS_RETENTION = timedelta(days=30)
# Longer than a budget week, so the weekly budget still counts every nudge it needs.
EXPIRED_NUDGE_RETENTION = timedelta(days=8)
SEEN_REACTION_RETENTION = timedelta(days=365)
CLOSED_POLL_RETENTION = timedelta(days=90)
OPEN_POLL_RETENTION = timedelta(days=365)

_FINISHED_JOBS = ("done", "missed", "failed", "cancelled")
_FINISHED_NUDGES = ("sent", "dropped")
_FINISHED_OUTBOX = ("sent", "failed")
# Ids per statement: well below SQLite's limit of bound parameters.
_CHUNK = 500


@dataclass(frozen=True)
class Pruned:
    """How many rows one run removed (or, for nudges, emptied), per table."""

    outbox: int = 0
    jobs: int = 0
    nudges_emptied: int = 0
    nudges_deleted: int = 0
    seen_reactions: int = 0
    processed_events: int = 0
    sent_messages: int = 0
    polls: int = 0

    @property
    def total(self) -> int:
        return sum(int(v) for v in vars(self).values())


async def prune(db: Database, now: datetime) -> Pruned:
    """Apply every rule once, as of ``now``; one transaction per table."""
    counts: dict[str, int] = {}
    async with db.transaction() as session:
        counts["outbox"] = rowcount(
            await session.execute(
                delete(OutboxMessage)
                .where(
                    OutboxMessage.status.in_(_FINISHED_OUTBOX),
                    func.coalesce(OutboxMessage.sent_at, OutboxMessage.due_at) < now - OUTBOX_RETENTION,
                )
                .execution_options(synchronize_session=False)
            )
        )
    job_cutoff = now - FINISHED_JOB_RETENTION
    async with db.transaction() as session:
        counts["jobs"] = rowcount(
            await session.execute(
                delete(ScheduledJob)
                .where(
                    ScheduledJob.status.in_(_FINISHED_JOBS),
                    ScheduledJob.run_at < job_cutoff,
                    or_(ScheduledJob.finished_at.is_(None), ScheduledJob.finished_at < job_cutoff),
                )
                .execution_options(synchronize_session=False)
            )
        )
    counts["nudges_deleted"] = await _delete_expired_nudges(db, now)
    counts["nudges_emptied"] = await _empty_nudge_params(db, now)
    async with db.transaction() as session:
        counts["seen_reactions"] = rowcount(
            await session.execute(
                delete(SeenReaction)
                .where(SeenReaction.seen_at < now - SEEN_REACTION_RETENTION)
                .execution_options(synchronize_session=False)
            )
        )
        counts["processed_events"] = rowcount(
            await session.execute(
                delete(ProcessedEvent)
                .where(ProcessedEvent.received_at < now - PROCESSED_RETENTION)
                .execution_options(synchronize_session=False)
            )
        )
        counts["sent_messages"] = rowcount(
            await session.execute(
                delete(SentMessage)
                .where(SentMessage.sent_at < now - SENT_RETENTION)
                .execution_options(synchronize_session=False)
            )
        )
    counts["polls"] = await _delete_old_polls(db, now)
    return Pruned(**counts)


async def _delete_old_polls(db: Database, now: datetime) -> int:
    old = or_(
        PollRow.closed_at < now - CLOSED_POLL_RETENTION,
        and_(PollRow.closed_at.is_(None), PollRow.opened_at < now - OPEN_POLL_RETENTION),
    )
    async with db.transaction() as session:
        ids = select(PollRow.event_id).where(old).scalar_subquery()
        await session.execute(
            delete(PollVoteRow)
            .where(PollVoteRow.poll_event_id.in_(ids))
            .execution_options(synchronize_session=False)
        )
        return rowcount(
            await session.execute(delete(PollRow).where(old).execution_options(synchronize_session=False))
        )


async def _delete_expired_nudges(db: Database, now: datetime) -> int:
    cutoff = now - EXPIRED_NUDGE_RETENTION
    async with db.transaction() as session:
        return rowcount(
            await session.execute(
                delete(Nudge)
                .where(
                    Nudge.status.in_(_FINISHED_NUDGES),
                    Nudge.expires_at.is_not(None),
                    Nudge.expires_at < cutoff,
                    Nudge.created_at < cutoff,
                    or_(Nudge.sent_at.is_(None), Nudge.sent_at < cutoff),
                )
                .execution_options(synchronize_session=False)
            )
        )


async def _empty_nudge_params(db: Database, now: datetime) -> int:
    cutoff = now - NUDGE_PARAMS_RETENTION
    old = or_(
        and_(Nudge.status == "sent", Nudge.sent_at < cutoff),
        and_(Nudge.status == "dropped", Nudge.created_at < cutoff),
    )
    emptied = 0
    while True:
        async with db.transaction() as session:
            ids = list(
                (
                    await session.scalars(
                        select(Nudge.id).where(old, cast(Nudge.params, String) != "{}").limit(_CHUNK)
                    )
                ).all()
            )
            if not ids:
                return emptied
            await session.execute(
                update(Nudge)
                .where(Nudge.id.in_(ids))
                .values(params={})
                .execution_options(synchronize_session=False)
            )
        emptied += len(ids)


class Retention(Feature):
    """The core's retention job: registered like a feature, so it runs at start."""

    name = "core.retention"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self._db: Database = services.db
        self._clock: Clock = services.clock
        self._scheduler: SchedulerService = services.scheduler
        self._scheduler.register(RETENTION_KIND, self._run_job)

    async def start(self) -> None:
        await self._scheduler.schedule_cron(
            RETENTION_KIND,
            RETENTION_KIND,
            RETENTION_CRON,
            {},
            timezone=self.services.config.community.timezone,
        )
        await self.run()

    async def _run_job(self, job_id: str, payload: dict[str, Any]) -> None:
        await self.run()

    async def run(self) -> Pruned:
        pruned = await prune(self._db, self._clock.now())
        if pruned.total:
            log.info("retention: %s", pruned)
        return pruned
