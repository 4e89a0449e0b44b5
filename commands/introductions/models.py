"""Tables of the introductions feature: profiles, welcome markers, spotlight history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models import Base


class Profile(Base):
    """One member's introduction. Stored only after they consented (``consent_at``)."""

    __tablename__ = "intro_profiles"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    profession: Mapped[str] = mapped_column(String(64), index=True)
    experience: Mapped[str | None] = mapped_column(String(32))
    years: Mapped[int | None] = mapped_column(Integer)
    region: Mapped[str | None] = mapped_column(String(32))
    setting: Mapped[str | None] = mapped_column(String(32))
    work_days: Mapped[list[str]] = mapped_column(JSON, default=list)
    meet_days: Mapped[list[str]] = mapped_column(JSON, default=list)
    goals: Mapped[list[str]] = mapped_column(JSON, default=list)
    themes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Profession keys the member would like to meet (the digest's "new members of the
    # professions you look for", and the directory's ``ontmoet=`` filter).
    meet_professions: Mapped[list[str]] = mapped_column(JSON, default=list)
    about: Mapped[str | None] = mapped_column(Text)
    weighing: Mapped[str | None] = mapped_column(Text)
    listed: Mapped[bool] = mapped_column(Boolean, default=False)
    spotlight: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_at: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The introduction card in the welcome room, so erasing the profile removes it too.
    card_room_id: Mapped[str | None] = mapped_column(String(255))
    card_event_id: Mapped[str | None] = mapped_column(String(255))


class WelcomeMarker(Base):
    """That a member was welcomed, by a keyed hash of their id rather than the id itself.

    The hash keeps the promise "one welcome, ever" also after the member asked to be
    forgotten, without a row that names them.
    """

    __tablename__ = "intro_welcomes"

    marker: Mapped[str] = mapped_column(String(64), primary_key=True)
    sent_at: Mapped[datetime]


class SpotlightPost(Base):
    """One practice spotlight: who was shown, in which rotation round."""

    __tablename__ = "intro_spotlights"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    profession: Mapped[str] = mapped_column(String(64))
    round: Mapped[int] = mapped_column(Integer)
    shown_at: Mapped[datetime]
