"""Tables of the events feature: events, sign-ups, attendance, evaluations, preferences."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class Event(Base):
    """One meeting. Times are aware UTC; ``uid`` stays the same for the calendar file's
    whole life, ``sequence`` counts its changes (calendar clients need both)."""

    __tablename__ = "events_events"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    uid: Mapped[str] = mapped_column(String(128), unique=True)
    series_id: Mapped[int | None] = mapped_column(Integer, index=True)
    series_part: Mapped[int | None] = mapped_column(Integer)
    series_size: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    place: Mapped[str | None] = mapped_column(String(300))
    link: Mapped[str | None] = mapped_column(String(500))
    form: Mapped[str] = mapped_column(String(16))
    theme: Mapped[str | None] = mapped_column(String(64))
    programme: Mapped[str | None] = mapped_column(Text)
    accreditation: Mapped[str | None] = mapped_column(String(200))
    points: Mapped[float | None] = mapped_column(Float)
    lunch: Mapped[bool | None] = mapped_column(Boolean)
    capacity: Mapped[int | None] = mapped_column(Integer)
    audience: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), index=True)
    organiser: Mapped[str | None] = mapped_column(String(255))
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    # Sign-ups get increasing numbers under the event's lock: the waitlist's order.
    signup_counter: Mapped[int] = mapped_column(Integer, default=0)
    card_room_id: Mapped[str | None] = mapped_column(String(255))
    card_event_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Card(Base):
    """Every card posted for an event (a change replaces the card): a reaction on any of
    them counts for the event."""

    __tablename__ = "events_cards"

    card_event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events_events.id", ondelete="CASCADE"), index=True)


class Rsvp(Base):
    """A member's answer for one event: going, waiting, maybe or not_going."""

    __tablename__ = "events_rsvps"
    __table_args__ = (UniqueConstraint("event_id", "user_id", name="uq_events_rsvps_event_user"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events_events.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)
    via: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Attendance(Base):
    """That a member was there, as the organiser recorded it."""

    __tablename__ = "events_attendance"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("events_events.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    recorded_at: Mapped[datetime]


class Evaluation(Base):
    """One attendee's evaluation (Bijlage 3 of the research): profession, what worked,
    what did not, tips."""

    __tablename__ = "events_evaluations"
    __table_args__ = (UniqueConstraint("event_id", "user_id", name="uq_events_evaluations_event_user"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events_events.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    profession: Mapped[str | None] = mapped_column(String(64))
    worked: Mapped[str | None] = mapped_column(Text)
    not_worked: Mapped[str | None] = mapped_column(Text)
    tips: Mapped[str | None] = mapped_column(Text)
    #: The scale question: 1 (poor) to 5 (excellent), asked as a poll; None when skipped.
    rating: Mapped[int | None] = mapped_column(Integer)
    submitted_at: Mapped[datetime]


class ReminderPreference(Base):
    """A member who turned event reminders off."""

    __tablename__ = "events_reminder_prefs"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    reminders: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime]
