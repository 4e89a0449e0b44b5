"""Tables of the accreditation feature: members' registration numbers (with consent),
check-in codes, check-ins, and which presence lists were exported."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class RegistrationNumber(Base):
    """One number of one member in one register (a member may hold several). Stored
    only on the member's own request, which is their consent (``consented_at``)."""

    __tablename__ = "accreditation_numbers"
    __table_args__ = (
        UniqueConstraint("user_id", "register", "label", name="uq_accreditation_numbers_register"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    register: Mapped[str] = mapped_column(String(16))
    # The register's name for ``other``; empty for the known registers.
    label: Mapped[str] = mapped_column(String(40), default="")
    number: Mapped[str] = mapped_column(String(40))
    consented_at: Mapped[datetime]


class CertificateName(Base):
    """The name a member wants on lists and certificates (as their register knows it)."""

    __tablename__ = "accreditation_names"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[datetime]


class CheckinCode(Base):
    """The code of one event's self check-in; one per event, replaced when asked again."""

    __tablename__ = "accreditation_codes"

    event_id: Mapped[int] = mapped_column(_ID, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), index=True)
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]


class Checkin(Base):
    """That a member checked in with the code, and when (attendance itself is the
    events feature's; this adds the time for the presence list)."""

    __tablename__ = "accreditation_checkins"

    event_id: Mapped[int] = mapped_column(_ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    checked_in_at: Mapped[datetime]


class PresenceExport(Base):
    """That an organiser took an event's presence lists (the reminders stop then)."""

    __tablename__ = "accreditation_exports"

    event_id: Mapped[int] = mapped_column(_ID, primary_key=True)
    exported_by: Mapped[str] = mapped_column(String(255))
    exported_at: Mapped[datetime]
