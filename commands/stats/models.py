"""Tables of the stats feature: aggregate counts only, never message text."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models import Base


class StatsInteraction(Base):
    """How often members of one profession answered members of another, per day and
    kind of room. No user ids: only the aggregate."""

    __tablename__ = "stats_interactions"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    from_profession: Mapped[str] = mapped_column(String(64), primary_key=True)
    to_profession: Mapped[str] = mapped_column(String(64), primary_key=True)
    room_kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class StatsRecentEvent(Base):
    """Recent community messages: who was answered, by profession only.

    ``author_tag`` is a keyed hash of the author (not their id), so a member answering
    themselves is not counted and the rows can be erased with the member. Rows older
    than the retention are pruned.
    """

    __tablename__ = "stats_recent_events"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    profession: Mapped[str] = mapped_column(String(64))
    author_tag: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[datetime] = mapped_column(index=True)
