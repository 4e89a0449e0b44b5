"""Recording cross-profession interactions: replies and thread replies, counted per
day, profession pair and kind of room. The message text is never read."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select

from bot.clock import Clock
from bot.secrets import STATS, Secrets, key_bytes
from bot.storage import Database
from bot.storage.results import rowcount
from commands.stats.models import StatsInteraction, StatsRecentEvent

RETENTION = timedelta(days=30)
"""How long a message can still be answered and counted."""
MAX_RECENT = 50_000
"""The recent-message map never holds more rows than this."""
PRUNE_EVERY = 500


@dataclass(frozen=True)
class InteractionCount:
    day: date
    from_profession: str
    to_profession: str
    room_kind: str
    count: int


class InteractionRecorder:
    def __init__(
        self, db: Database, clock: Clock, timezone: str = "Europe/Amsterdam", secrets: Secrets | None = None
    ) -> None:
        self._zone = ZoneInfo(timezone)
        self._secrets = secrets if secrets is not None else Secrets.from_environment()
        self._db = db
        self._clock = clock
        self._secret: bytes | None = None
        self._since_prune = 0

    async def author_tag(self, user_id: str) -> str:
        """A keyed hash of the member id (the secret: see :mod:`bot.secrets`)."""
        if self._secret is None:
            self._secret = key_bytes(await self._secrets.get_or_generate(self._db, STATS))
        return hmac.new(self._secret, user_id.encode(), hashlib.sha256).hexdigest()[:32]

    async def record(
        self,
        event_id: str,
        author: str,
        profession: str,
        room_kind: str,
        answered: str | None,
        at: datetime,
    ) -> bool:
        """Remember the message; count it when it answers another member. True if counted.

        ``at`` is the bot's time (the day is the community's local day)."""
        tag = await self.author_tag(author)
        counted = False
        async with self._db.transaction() as session:
            if await session.get(StatsRecentEvent, event_id) is not None:
                return False  # a replayed event counts once
            session.add(StatsRecentEvent(event_id=event_id, profession=profession, author_tag=tag, at=at))
            if answered is not None:
                target = await session.get(StatsRecentEvent, answered)
                if target is not None and target.author_tag != tag:
                    day = at.astimezone(self._zone).date()
                    key = (day, profession, target.profession, room_kind)
                    row = await session.get(StatsInteraction, key)
                    if row is None:
                        session.add(
                            StatsInteraction(
                                day=day,
                                from_profession=profession,
                                to_profession=target.profession,
                                room_kind=room_kind,
                                count=1,
                            )
                        )
                    else:
                        row.count += 1
                    counted = True
        self._since_prune += 1
        if self._since_prune >= PRUNE_EVERY:
            await self.prune()
        return counted

    async def prune(self) -> int:
        """Drop messages past the retention, and the oldest beyond ``MAX_RECENT``."""
        self._since_prune = 0
        cutoff = self._clock.now() - RETENTION
        async with self._db.transaction() as session:
            result = await session.execute(delete(StatsRecentEvent).where(StatsRecentEvent.at < cutoff))
            removed = rowcount(result)
            total = await session.scalar(select(func.count()).select_from(StatsRecentEvent)) or 0
            if total > MAX_RECENT:
                oldest = (
                    select(StatsRecentEvent.event_id)
                    .order_by(StatsRecentEvent.at)
                    .limit(total - MAX_RECENT)
                    .scalar_subquery()
                )
                result = await session.execute(
                    delete(StatsRecentEvent).where(StatsRecentEvent.event_id.in_(oldest))
                )
                removed += rowcount(result)
        return removed

    async def counts(self, since: date, until: date) -> list[InteractionCount]:
        """Counts per profession pair and room kind, summed over ``since`` to ``until``."""
        async with self._db.session() as session:
            rows = await session.execute(
                select(
                    StatsInteraction.from_profession,
                    StatsInteraction.to_profession,
                    StatsInteraction.room_kind,
                    func.sum(StatsInteraction.count),
                )
                .where(StatsInteraction.day >= since, StatsInteraction.day <= until)
                .group_by(
                    StatsInteraction.from_profession,
                    StatsInteraction.to_profession,
                    StatsInteraction.room_kind,
                )
            )
            return [InteractionCount(since, a, b, kind, int(n)) for a, b, kind, n in rows.all()]

    async def matrix(self, since: date, until: date) -> dict[tuple[str, str], int]:
        """From-profession x to-profession totals over all room kinds."""
        totals: dict[tuple[str, str], int] = {}
        for row in await self.counts(since, until):
            key = (row.from_profession, row.to_profession)
            totals[key] = totals.get(key, 0) + row.count
        return totals

    async def daily(self, since: date, until: date) -> dict[date, int]:
        """Cross-profession replies per day (different professions only)."""
        async with self._db.session() as session:
            rows = await session.execute(
                select(StatsInteraction.day, func.sum(StatsInteraction.count))
                .where(
                    StatsInteraction.day >= since,
                    StatsInteraction.day <= until,
                    StatsInteraction.from_profession != StatsInteraction.to_profession,
                )
                .group_by(StatsInteraction.day)
            )
            return {day: int(n) for day, n in rows.all()}

    async def weekly(self, since: date, until: date) -> dict[tuple[date, str], int]:
        """Replies given per profession per week (Monday), all professions answered."""
        async with self._db.session() as session:
            rows = await session.execute(
                select(
                    StatsInteraction.day, StatsInteraction.from_profession, func.sum(StatsInteraction.count)
                )
                .where(StatsInteraction.day >= since, StatsInteraction.day <= until)
                .group_by(StatsInteraction.day, StatsInteraction.from_profession)
            )
            found: dict[tuple[date, str], int] = {}
            for day, profession, n in rows.all():
                key = (day - timedelta(days=day.weekday()), profession)
                found[key] = found.get(key, 0) + int(n)
        return found

    # -- privacy -----------------------------------------------------------------------

    async def export_member(self, user_id: str) -> dict[str, int]:
        tag = await self.author_tag(user_id)
        async with self._db.session() as session:
            n = await session.scalar(
                select(func.count()).select_from(StatsRecentEvent).where(StatsRecentEvent.author_tag == tag)
            )
        return {"recent_messages_remembered_by_profession": int(n or 0)}

    async def erase_member(self, user_id: str) -> int:
        tag = await self.author_tag(user_id)
        async with self._db.transaction() as session:
            result = await session.execute(delete(StatsRecentEvent).where(StatsRecentEvent.author_tag == tag))
        return rowcount(result)
