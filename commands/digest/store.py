"""The digest feature's database access; every method is one transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from bot.clock import Clock
from bot.core_data import column_mentions, reference_forms, value_mentions
from bot.i18n import LANGUAGES
from bot.storage import Database
from bot.storage.models import Member, Nudge
from bot.storage.results import rowcount
from commands.digest.models import DigestActivity, DigestSubscription

WEEKLY = "weekly"
MONTHLY = "monthly"
RHYTHMS = (WEEKLY, MONTHLY)
ACTIVITY_RETENTION = timedelta(days=62)
"""Longer than the longest digest window (a month)."""


class DigestStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def get(self, user_id: str) -> DigestSubscription | None:
        async with self._db.session() as session:
            return await session.get(DigestSubscription, user_id)

    async def choose(
        self, user_id: str, *, enabled: bool | None = None, rhythm: str | None = None
    ) -> DigestSubscription:
        now = self._clock.now()
        async with self._db.transaction() as session:
            row = await session.get(DigestSubscription, user_id)
            if row is None:
                row = DigestSubscription(
                    user_id=user_id, enabled=False, rhythm=WEEKLY, updated_at=now, last_sent_at=None
                )
                session.add(row)
            if enabled is not None:
                row.enabled = enabled
            if rhythm is not None:
                row.rhythm = rhythm
            row.updated_at = now
            await session.flush()
            session.expunge(row)
        return row

    async def subscribers(self) -> list[tuple[str, str]]:
        """``(user_id, rhythm)`` of every member with the digest on."""
        async with self._db.session() as session:
            rows = await session.execute(
                select(DigestSubscription.user_id, DigestSubscription.rhythm).where(
                    DigestSubscription.enabled.is_(True)
                )
            )
            return [(user, rhythm) for user, rhythm in rows.all()]

    async def mark_sent(self, user_ids: Iterable[str], at: datetime) -> None:
        users = list(user_ids)
        if not users:
            return
        async with self._db.transaction() as session:
            for row in await session.scalars(
                select(DigestSubscription).where(DigestSubscription.user_id.in_(users))
            ):
                row.last_sent_at = at

    async def languages(self, user_ids: list[str]) -> dict[str, str]:
        """The language each member chose (members who chose none are absent)."""
        found: dict[str, str] = {}
        async with self._db.session() as session:
            for start in range(0, len(user_ids), 500):
                rows = await session.execute(
                    select(Member.user_id, Member.language).where(
                        Member.user_id.in_(user_ids[start : start + 500])
                    )
                )
                found.update({user: language for user, language in rows.all() if language in LANGUAGES})
        return found

    # -- activity markers ----------------------------------------------------------------

    async def record_activity(self, user_id: str, event_id: str, at: datetime) -> None:
        async with self._db.transaction() as session:
            row = await session.get(DigestActivity, (user_id, event_id))
            if row is None:
                session.add(DigestActivity(user_id=user_id, event_id=event_id, at=at))
            else:
                row.at = at

    async def activity(self, user_ids: Iterable[str]) -> dict[str, set[str]]:
        """The threads each member took part in (within the retention)."""
        users = list(user_ids)
        found: dict[str, set[str]] = {}
        async with self._db.session() as session:
            for start in range(0, len(users), 500):
                chunk = users[start : start + 500]
                rows = await session.execute(
                    select(DigestActivity.user_id, DigestActivity.event_id).where(
                        DigestActivity.user_id.in_(chunk)
                    )
                )
                for user, event in rows.all():
                    found.setdefault(user, set()).add(event)
        return found

    async def prune(self) -> int:
        cutoff = self._clock.now() - ACTIVITY_RETENTION
        async with self._db.transaction() as session:
            result = await session.execute(delete(DigestActivity).where(DigestActivity.at < cutoff))
        return rowcount(result)

    # -- privacy -------------------------------------------------------------------------

    async def export_member(self, user_id: str) -> dict[str, Any]:
        async with self._db.session() as session:
            sub = await session.get(DigestSubscription, user_id)
            marks = (
                await session.scalars(select(DigestActivity).where(DigestActivity.user_id == user_id))
            ).all()
        return {
            "subscription": None
            if sub is None
            else {
                "enabled": sub.enabled,
                "rhythm": sub.rhythm,
                "updated_at": sub.updated_at.isoformat(),
                "last_sent_at": sub.last_sent_at.isoformat() if sub.last_sent_at else None,
            },
            "threads_taken_part_in": [{"event_id": m.event_id, "at": m.at.isoformat()} for m in marks],
        }

    async def forget_mentions(self, user_id: str, kind: str) -> list[tuple[int, str]]:
        """Delete other members' digests that name ``user_id`` (a newcomer line links
        them); returns ``(nudge id, status)`` of each so pending deliveries can be
        cancelled."""
        forms = reference_forms(user_id)
        async with self._db.transaction() as session:
            rows = (
                await session.execute(
                    select(Nudge.id, Nudge.status, Nudge.params).where(
                        Nudge.kind == kind, column_mentions(Nudge.params, forms)
                    )
                )
            ).all()
            hits = [(int(i), str(status)) for i, status, params in rows if value_mentions((params,), forms)]
            if hits:
                await session.execute(delete(Nudge).where(Nudge.id.in_([i for i, _ in hits])))
        return hits

    async def erase_member(self, user_id: str) -> int:
        async with self._db.transaction() as session:
            a = await session.execute(delete(DigestSubscription).where(DigestSubscription.user_id == user_id))
            b = await session.execute(delete(DigestActivity).where(DigestActivity.user_id == user_id))
        return rowcount(a) + rowcount(b)
