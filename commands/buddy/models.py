"""Tables of the buddy feature: availability, blocks, requests, offers, pairs, check-ins.

Member columns of requests, offers and pairs are nullable: when one member of a pair
asks to be forgotten, the other keeps their side of the history, anonymised.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class BuddyAvailability(Base):
    """A member who said whether they are open to becoming someone's buddy."""

    __tablename__ = "buddy_availability"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    available: Mapped[bool] = mapped_column(Boolean, default=False)
    max_pairs: Mapped[int] = mapped_column(Integer, default=1)
    paused_until: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime]


class BuddyBlock(Base):
    """Someone a member keeps out of their matches; never shown to the blocked member."""

    __tablename__ = "buddy_blocks"
    __table_args__ = (UniqueConstraint("user_id", "blocked_id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    blocked_id: Mapped[str] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime]


class BuddyRequest(Base):
    """A member looking for a buddy. Status: searching, matched, exhausted, cancelled."""

    __tablename__ = "buddy_requests"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    requester_id: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    criteria: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    topic: Mapped[str | None] = mapped_column(Text)
    # The event that created it, so a replay after a crash does not create it twice.
    source_event: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class BuddyOffer(Base):
    """One candidate asked for one request; its id is the number they answer with.

    Status: pending, accepted, refused, expired, withdrawn.
    """

    __tablename__ = "buddy_offers"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    request_id: Mapped[int] = mapped_column(_ID, index=True)
    candidate_id: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(16))
    score: Mapped[int] = mapped_column(Integer, default=0)
    offered_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]


class BuddyPair(Base):
    """Two members matched; ``member_a`` asked, ``member_b`` accepted. Status: active, ended."""

    __tablename__ = "buddy_pairs"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    request_id: Mapped[int | None] = mapped_column(_ID, unique=True)
    member_a: Mapped[str | None] = mapped_column(String(255), index=True)
    member_b: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    # The room's alias part, fixed before the room exists, so creating it is idempotent.
    room_alias: Mapped[str] = mapped_column(String(64))
    room_id: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class BuddyCheckin(Base):
    """A member's answer to "have you met yet?" for one check-in round of a pair."""

    __tablename__ = "buddy_checkins"
    __table_args__ = (UniqueConstraint("pair_id", "round", "user_id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    pair_id: Mapped[int] = mapped_column(_ID, index=True)
    round: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    answer: Mapped[str] = mapped_column(String(16))
    answered_at: Mapped[datetime]
