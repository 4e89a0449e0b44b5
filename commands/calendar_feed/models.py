"""The calendar feed's one table: a member's secret feed link, kept only as a SHA-256
hash of its token (a copy of the database opens no one's agenda)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models import Base


class FeedLink(Base):
    __tablename__ = "calendar_feed_links"

    # One link per member: asking for a new one replaces the row, so the old URL stops.
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
