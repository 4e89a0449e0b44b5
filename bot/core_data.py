"""Export and erase what the core keeps about a member outside its member services.

The member, conversation and nudge services handle their own rows. The rest is filled
by the Matrix adapter, the outbox and the scheduler, which have no member column of
their own making: the member's direct chat (and the files the bot posted there), the
reactions seen from them, outbox messages that name them or go to their direct chat,
jobs whose payload names them, and what the transport keeps itself (encryption
records, messages waiting for their keys).

Files are redacted, not deleted: Matrix gives a client no way to delete media, only a
homeserver admin can. In an encrypted chat the redaction removes the file's key with
the event, so what stays in the media repository cannot be read.

The outbox and job erasers are a safety net: a feature should erase its own messages
and jobs; these catch what one forgets, so that after an erase no row names the member.
A row "names" a member when one of its text or JSON columns contains their user id
(also in its URL-encoded form, as in a ``matrix.to`` link).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from sqlalchemy import Text, cast, delete, or_, select
from sqlalchemy.sql.elements import ColumnElement

from bot.ids import RoomId, UserId
from bot.scheduler import SchedulerService
from bot.storage import Database
from bot.storage.models import DirectRoom, OutboxMessage, RecurringJob, ScheduledJob, SeenReaction
from bot.storage.results import rowcount
from bot.transport import Transport

log = logging.getLogger(__name__)

_LIKE_ESCAPE = "\\"


def reference_forms(user_id: str) -> tuple[str, ...]:
    """The ways a user id appears in stored text: as is, and URL-encoded (in links)."""
    encoded = quote(user_id, safe="")
    return (user_id, encoded) if encoded != user_id else (user_id,)


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere; ``_`` and ``%`` (common in ids) literal."""
    escaped = (
        text.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
        .replace("%", _LIKE_ESCAPE + "%")
        .replace("_", _LIKE_ESCAPE + "_")
    )
    return f"%{escaped}%"


def column_mentions(column: Any, forms: Sequence[str]) -> ColumnElement[bool]:
    """A coarse SQL filter: the column's text contains one of ``forms``.

    SQLite's LIKE ignores ASCII case, so every hit is checked again in Python with
    :func:`value_mentions` before anything is erased (``@Bob`` is not ``@bob``).
    """
    return or_(*(cast(column, Text).like(like_pattern(form), escape=_LIKE_ESCAPE) for form in forms))


def as_text(value: Any) -> str:
    """A column value as the text it is stored as (JSON for dicts and lists)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def value_mentions(values: Iterable[Any], forms: Sequence[str]) -> bool:
    """Whether any of the values contains one of ``forms`` exactly (case-sensitive)."""
    texts = [as_text(value) for value in values]
    return any(form in text for form in forms for text in texts)


class CoreErasure:
    """Export/erase hooks for the direct chat, reactions, outbox and jobs of a member."""

    def __init__(self, db: Database, transport: Transport, scheduler: SchedulerService) -> None:
        self._db = db
        self._transport = transport
        self._scheduler = scheduler

    # -- direct chat -------------------------------------------------------------

    async def export_direct_room(self, user_id: UserId) -> dict[str, Any]:
        async with self._db.session() as session:
            row = await session.get(DirectRoom, user_id)
        if row is None:
            return {}
        files = await self._transport.files_sent(RoomId(row.room_id))
        data: dict[str, Any] = {"room_id": row.room_id, "created_at": row.created_at.isoformat()}
        if files:
            data["files_sent"] = [
                {"filename": f.filename, "sent_at": f.sent_at.isoformat(), "event_id": f.event_id}
                for f in files
            ]
        return data

    async def erase_direct_room(self, user_id: UserId) -> int:
        """Forget which chat is the member's DM, and the outbox messages addressed to it.

        The outbox has no member column: a message to the DM belongs to the member only
        through this row, so it goes together with it. The room itself is left alone
        (the member reads the erase confirmation there and may talk to the bot again).
        """
        redacted = await self._redact_files(user_id)
        async with self._db.transaction() as session:
            row = await session.get(DirectRoom, user_id)
            if row is None:
                removed = redacted
            else:
                messages = await session.execute(
                    delete(OutboxMessage)
                    .where(OutboxMessage.room_id == row.room_id)
                    .execution_options(synchronize_session=False)
                )
                await session.delete(row)
                removed = redacted + 1 + rowcount(messages)
        # Also when no row was recorded: the adapter may know the DM from m.direct.
        await self._transport.forget_direct_room(user_id)
        return removed

    async def _redact_files(self, user_id: UserId) -> int:
        """Redact the files the bot posted in the member's DM (exports, calendar files)."""
        async with self._db.session() as session:
            room_id = await session.scalar(select(DirectRoom.room_id).where(DirectRoom.user_id == user_id))
        if room_id is None:
            return 0
        files = await self._transport.files_sent(RoomId(room_id))
        for sent in files:
            await self._transport.redact(RoomId(room_id), sent.event_id, None)
        if files:
            log.info("redacted %d files in a forgotten member's direct chat", len(files))
        return len(files)

    # -- what the transport keeps ------------------------------------------------

    async def export_transport(self, user_id: UserId) -> dict[str, Any]:
        return await self._transport.member_data(user_id)

    async def erase_transport(self, user_id: UserId) -> int:
        return await self._transport.forget_member(user_id)

    # -- reactions ---------------------------------------------------------------

    async def export_reactions(self, user_id: UserId) -> dict[str, Any]:
        async with self._db.session() as session:
            rows = (
                await session.scalars(
                    select(SeenReaction).where(SeenReaction.sender == user_id).order_by(SeenReaction.seen_at)
                )
            ).all()
        if not rows:
            return {}
        return {
            "reactions": [
                {
                    "room_id": row.room_id,
                    "event_id": row.event_id,
                    "reacted_to": row.target_event_id,
                    "key": row.key,
                    "seen_at": row.seen_at.isoformat(),
                }
                for row in rows
            ]
        }

    async def erase_reactions(self, user_id: UserId) -> int:
        # Without the row a later withdrawal of the reaction is not recognised; that
        # is the point: the bot no longer knows the member reacted at all.
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(SeenReaction)
                .where(SeenReaction.sender == user_id)
                .execution_options(synchronize_session=False)
            )
        return rowcount(result)

    # -- outbox ------------------------------------------------------------------

    async def _outbox_rows(self, user_id: UserId) -> list[OutboxMessage]:
        """Outbox rows naming the member, or addressed to their direct chat."""
        forms = reference_forms(user_id)
        columns = (
            OutboxMessage.txn_id,
            OutboxMessage.plain,
            OutboxMessage.html,
            OutboxMessage.mentions,
            OutboxMessage.reason,
        )
        async with self._db.session() as session:
            dm_room = await session.scalar(select(DirectRoom.room_id).where(DirectRoom.user_id == user_id))
            conditions = [column_mentions(column, forms) for column in columns]
            if dm_room is not None:
                conditions.append(OutboxMessage.room_id == dm_room)
            rows = (
                await session.scalars(
                    select(OutboxMessage).where(or_(*conditions)).order_by(OutboxMessage.id)
                )
            ).all()
        return [
            row
            for row in rows
            if row.room_id == dm_room
            or value_mentions((row.txn_id, row.plain, row.html, row.mentions, row.reason), forms)
        ]

    async def export_outbox(self, user_id: UserId) -> dict[str, Any]:
        rows = await self._outbox_rows(user_id)
        if not rows:
            return {}
        return {
            "messages": [
                {
                    "room_id": row.room_id,
                    "text": row.plain,
                    "status": row.status,
                    "due_at": row.due_at.isoformat(),
                    "sent_at": row.sent_at.isoformat() if row.sent_at else None,
                }
                for row in rows
            ]
        }

    async def erase_outbox(self, user_id: UserId) -> int:
        """Delete the member's outbox rows, pending ones too: a forgotten member is not
        mentioned in anything the bot sends from now on."""
        ids = [row.id for row in await self._outbox_rows(user_id)]
        if not ids:
            return 0
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .execution_options(synchronize_session=False)
            )
        log.info("erased %d outbox rows naming a forgotten member", rowcount(result))
        return rowcount(result)

    # -- jobs --------------------------------------------------------------------

    async def _jobs(self, user_id: UserId) -> tuple[list[ScheduledJob], list[RecurringJob]]:
        forms = reference_forms(user_id)
        async with self._db.session() as session:
            once = (
                await session.scalars(
                    select(ScheduledJob).where(
                        or_(
                            *(
                                column_mentions(column, forms)
                                for column in (ScheduledJob.job_id, ScheduledJob.payload, ScheduledJob.note)
                            )
                        )
                    )
                )
            ).all()
            recurring = (
                await session.scalars(
                    select(RecurringJob).where(
                        or_(*(column_mentions(c, forms) for c in (RecurringJob.job_id, RecurringJob.payload)))
                    )
                )
            ).all()
        return (
            [job for job in once if value_mentions((job.job_id, job.payload, job.note), forms)],
            [job for job in recurring if value_mentions((job.job_id, job.payload), forms)],
        )

    async def export_jobs(self, user_id: UserId) -> dict[str, Any]:
        # Kind and time only: a payload may name other members too (a buddy pair).
        once, recurring = await self._jobs(user_id)
        data: dict[str, Any] = {}
        if once:
            data["scheduled"] = [
                {"kind": job.kind, "run_at": job.run_at.isoformat(), "status": job.status} for job in once
            ]
        if recurring:
            data["recurring"] = [{"kind": job.kind, "cron": job.cron} for job in recurring]
        return data

    async def erase_jobs(self, user_id: UserId) -> int:
        """Cancel and delete every job that names the member (the scheduler's
        ``cancel`` keeps a cancelled row, with its payload, so the rows go as well)."""
        once, recurring = await self._jobs(user_id)
        if not once and not recurring:
            return 0
        for job_id in [job.job_id for job in once] + [job.job_id for job in recurring]:
            await self._scheduler.cancel(job_id)
        if once:
            async with self._db.transaction() as session:
                await session.execute(
                    delete(ScheduledJob)
                    .where(ScheduledJob.job_id.in_([job.job_id for job in once]))
                    .execution_options(synchronize_session=False)
                )
        log.warning(
            "erased %d jobs naming a forgotten member; the feature that made them should erase its own",
            len(once) + len(recurring),
        )
        return len(once) + len(recurring)
