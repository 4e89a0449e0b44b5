"""The declarative base shared by every feature, and the core's own tables.

Tables are named ``<feature>_<entity>``; the core's start with ``core_``. Times are
stored as aware UTC (``UtcDateTime``), converted to the community time zone only to
parse and display.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Index, Integer, MetaData, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that goes in and comes out as aware UTC on every backend.

    SQLite keeps no zone; PostgreSQL would convert to the session zone. Storing naive
    UTC and re-attaching UTC on the way out gives the same behaviour on both.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Base class of every table of every feature."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON()}


class Member(Base):
    """What the core keeps about a member: language and nudge preferences, nothing more."""

    __tablename__ = "core_members"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    language: Mapped[str | None] = mapped_column(String(8))
    nudges_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen: Mapped[datetime]


class KeyValue(Base):
    """Small durable facts of the bot itself: the sync token, the first start, credentials."""

    __tablename__ = "core_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ProcessedEvent(Base):
    """An incoming event the bot has handled (or is handling): the basis of at-most-once."""

    __tablename__ = "core_processed_events"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))  # started | done | failed
    # How often handling began: an event whose handling was cut off by a crash is
    # handled again at the next start, but not forever (a poison event).
    attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    received_at: Mapped[datetime]
    origin_ts: Mapped[datetime]

    __table_args__ = (Index("ix_core_processed_events_received_at", "received_at"),)


class SentMessage(Base):
    """What the bot sent, by deterministic transaction id, so a retry never doubles it."""

    __tablename__ = "core_sent_messages"

    txn_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255))
    event_id: Mapped[str] = mapped_column(String(255))
    sent_at: Mapped[datetime]


class Conversation(Base):
    """A member's open DM conversation (one at a time), so a restart loses no answer."""

    __tablename__ = "core_conversations"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    flow: Mapped[str] = mapped_column(String(100))
    room_id: Mapped[str] = mapped_column(String(255))
    step: Mapped[int] = mapped_column(Integer, default=0)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ScheduledJob(Base):
    """A one-off job. The row is the truth; the in-memory scheduler only wakes us up."""

    __tablename__ = "core_jobs"

    job_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(100))
    run_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|done|missed|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_core_jobs_status_run_at", "status", "run_at"),)


class RecurringJob(Base):
    """A cron job; ``last_fire`` lets a restart see which occurrence was missed."""

    __tablename__ = "core_recurring_jobs"

    job_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(100))
    cron: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_fire: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Nudge(Base):
    """A non-urgent ping to a member, delivered within their budget and outside quiet hours."""

    __tablename__ = "core_nudges"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    kind: Mapped[str] = mapped_column(String(100))
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    message_key: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    deliver_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|dropped
    sent_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]

    # Ids are never reused after an erase: delivery transaction ids derive from them.
    __table_args__ = {"sqlite_autoincrement": True}


class SeenReaction(Base):
    """Reactions seen, so that a later redaction can be reported as a withdrawn reaction
    (a redacted event no longer carries its key or target)."""

    __tablename__ = "core_seen_reactions"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255))
    sender: Mapped[str] = mapped_column(String(255))
    target_event_id: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime]


class DirectRoom(Base):
    """The direct chat the bot uses for each member, so one is never created twice."""

    __tablename__ = "core_direct_rooms"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime]


class OutboxMessage(Base):
    """A message the bot will send when it is due: pending → sent, or failed with a reason.

    Scheduled messages (reminders, nudges, posted cases) go through the outbox, so an
    outage or the homeserver's rate limit delays them but never loses or doubles them,
    and they leave in order of due time.
    """

    __tablename__ = "core_outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    txn_id: Mapped[str] = mapped_column(String(255), unique=True)
    room_id: Mapped[str] = mapped_column(String(255))
    plain: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    thread_root: Mapped[str | None] = mapped_column(String(255))
    reply_to: Mapped[str | None] = mapped_column(String(255))
    mentions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notice: Mapped[bool] = mapped_column(Boolean, default=True)
    due_at: Mapped[datetime]
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(Text)
    event_id: Mapped[str | None] = mapped_column(String(255))
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_core_outbox_status_due_at", "status", "due_at", "id"),
        {"sqlite_autoincrement": True},
    )


class PollRow(Base):
    """A poll the bot started (:mod:`bot.polls`): its question and answers, whose it is
    (``purpose`` and ``ref``, e.g. ``events.dates`` and an event id) and when it ended.

    Holds no member: the question and answers are the bot's texts."""

    __tablename__ = "core_polls"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255), index=True)
    purpose: Mapped[str] = mapped_column(String(100))
    ref: Mapped[str] = mapped_column(String(255))
    question: Mapped[str] = mapped_column(Text)
    answers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    max_selections: Mapped[int] = mapped_column(Integer, default=1)
    disclosed: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    end_event_id: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (Index("ix_core_polls_purpose_ref", "purpose", "ref"),)


class PollVoteRow(Base):
    """A member's current answer to a poll: one row per member and poll, by poll response
    or by ``!stem``; the latest (by the homeserver's timestamp) replaces an earlier one."""

    __tablename__ = "core_poll_votes"

    poll_event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)
    answer_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    voted_at: Mapped[datetime]
    #: The response or command message the answer came with.
    event_id: Mapped[str] = mapped_column(String(255))


class BackedUpRoomKey(Base):
    """A room key (Megolm session) the bot has put in the homeserver's key backup
    (:mod:`bot.matrix.key_backup`), so a restart does not upload it again.

    Ids only, no key: the key itself is in the crypto store and, encrypted, on the server.
    """

    __tablename__ = "core_backed_up_room_keys"

    session_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255), index=True)
    #: The backup version it went into; another version means "not backed up".
    version: Mapped[str] = mapped_column(String(64))
    backed_up_at: Mapped[datetime]
