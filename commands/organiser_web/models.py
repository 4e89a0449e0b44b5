"""Tables of the organisers' web page: one-time login links and sessions, both kept
only as SHA-256 hashes (a copy of the database opens nothing)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models import Base


class LoginLink(Base):
    __tablename__ = "organiser_web_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class WebSession(Base):
    __tablename__ = "organiser_web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
