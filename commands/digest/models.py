"""Tables of the digest feature: who wants a digest, and where members took part."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models import Base


class DigestSubscription(Base):
    """A member's choice: digest on or off, weekly or monthly."""

    __tablename__ = "digest_subscriptions"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    rhythm: Mapped[str] = mapped_column(String(16), default="weekly")
    updated_at: Mapped[datetime]
    last_sent_at: Mapped[datetime | None]


class DigestActivity(Base):
    """The member wrote in (or replied to) this thread: the digest leaves it out.

    Only the event id of the thread root or of the message replied to, and when;
    pruned after the retention, erased with the member."""

    __tablename__ = "digest_activity"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
