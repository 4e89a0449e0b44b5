"""Feed links: a random token handed out once, stored only as its hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import delete, select

from bot.clock import Clock
from bot.storage import Database
from bot.storage.results import rowcount
from commands.calendar_feed.models import FeedLink


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class FeedStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def has_link(self, user_id: str) -> bool:
        async with self._db.session() as session:
            return await session.get(FeedLink, user_id) is not None

    async def new_link(self, user_id: str) -> str:
        """A fresh token for the member; the one they had stops working."""
        token = secrets.token_urlsafe(32)
        async with self._db.transaction() as session:
            await session.execute(delete(FeedLink).where(FeedLink.user_id == user_id))
            session.add(FeedLink(user_id=user_id, token_hash=digest(token), created_at=self._clock.now()))
        return token

    async def revoke(self, user_id: str) -> bool:
        """Remove the member's link; False when they had none."""
        async with self._db.transaction() as session:
            done = await session.execute(delete(FeedLink).where(FeedLink.user_id == user_id))
        return bool(rowcount(done))

    async def member_of(self, token: str) -> str | None:
        """Whose feed the token opens, or None (unknown, replaced or revoked)."""
        async with self._db.session() as session:
            return await session.scalar(select(FeedLink.user_id).where(FeedLink.token_hash == digest(token)))

    async def export_member(self, user_id: str) -> dict[str, object]:
        # The token itself is not kept: the member sees that a link exists and since when.
        async with self._db.session() as session:
            row = await session.get(FeedLink, user_id)
        return {} if row is None else {"feed_link_created_at": _aware(row.created_at).isoformat()}

    async def erase_member(self, user_id: str) -> int:
        return 1 if await self.revoke(user_id) else 0
