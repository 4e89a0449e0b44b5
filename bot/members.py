"""What the core keeps per member: chosen language and nudge opt-out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from bot.clock import Clock
from bot.i18n import LANGUAGES
from bot.ids import UserId
from bot.storage import Database
from bot.storage.models import Member


class MemberService:
    """Reads and writes :class:`~bot.storage.models.Member` rows; caches languages."""

    def __init__(self, db: Database, clock: Clock, default_language: str) -> None:
        self._db = db
        self._clock = clock
        self.default_language = default_language
        # Languages are read on every message; the cache is filled lazily and kept
        # in step with every write made through this service.
        self._language_cache: dict[str, str] = {}

    async def language_of(self, user_id: UserId) -> str:
        cached = self._language_cache.get(user_id)
        if cached is not None:
            return cached
        async with self._db.session() as session:
            chosen = await session.scalar(select(Member.language).where(Member.user_id == user_id))
        language = chosen if chosen in LANGUAGES else self.default_language
        self._language_cache[user_id] = language
        return language

    async def set_language(self, user_id: UserId, language: str) -> None:
        async with self._db.transaction() as session:
            member = await session.get(Member, user_id)
            if member is None:
                session.add(Member(user_id=user_id, language=language, first_seen=self._clock.now()))
            else:
                member.language = language
        self._language_cache[user_id] = language

    async def export_member(self, user_id: UserId) -> dict[str, Any]:
        async with self._db.session() as session:
            member = await session.get(Member, user_id)
        if member is None:
            return {}
        return {
            "language": member.language,
            "nudges_opt_out": member.nudges_opt_out,
            "first_seen": member.first_seen.isoformat(),
        }

    async def erase_member(self, user_id: UserId) -> int:
        async with self._db.transaction() as session:
            result = await session.execute(delete(Member).where(Member.user_id == user_id))
        self._language_cache.pop(user_id, None)
        return int(getattr(result, "rowcount", 0) or 0)
