"""Login links and sessions: random tokens handed out once, stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from bot.clock import Clock
from bot.storage import Database
from bot.storage.results import rowcount
from commands.organiser_web.models import LoginLink, WebSession

LINK_LIFETIME = timedelta(minutes=10)
SESSION_LIFETIME = timedelta(hours=8)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Session:
    user_id: str
    csrf: str
    expires_at: datetime


class WebStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def new_link(self, user_id: str) -> str:
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        async with self._db.transaction() as session:
            await session.execute(delete(LoginLink).where(LoginLink.expires_at < now))
            session.add(LoginLink(token_hash=digest(token), user_id=user_id, expires_at=now + LINK_LIFETIME))
        return token

    async def use_link(self, token: str) -> str | None:
        """The member the link was for, once: a used or expired link gives None."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            row = await session.get(LoginLink, digest(token))
            if row is None or row.used_at is not None or _aware(row.expires_at) <= now:
                return None
            # Conditional on ``used_at`` still empty: two tabs opening it at once get one session.
            done = await session.execute(
                update(LoginLink)
                .where(LoginLink.token_hash == row.token_hash, LoginLink.used_at.is_(None))
                .values(used_at=now)
            )
            return row.user_id if rowcount(done) == 1 else None

    async def new_session(self, user_id: str) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        found = Session(user_id, secrets.token_urlsafe(24), now + SESSION_LIFETIME)
        async with self._db.transaction() as session:
            await session.execute(delete(WebSession).where(WebSession.expires_at < now))
            session.add(
                WebSession(
                    token_hash=digest(token), user_id=user_id, csrf=found.csrf, expires_at=found.expires_at
                )
            )
        return token, found

    async def session(self, token: str) -> Session | None:
        # A read (every request asks): no write transaction, no commit to wait for.
        async with self._db.session() as session:
            row = await session.scalar(select(WebSession).where(WebSession.token_hash == digest(token)))
        if row is None or _aware(row.expires_at) <= self._clock.now():
            return None
        return Session(row.user_id, row.csrf, _aware(row.expires_at))

    async def end_session(self, token: str) -> None:
        async with self._db.transaction() as session:
            await session.execute(delete(WebSession).where(WebSession.token_hash == digest(token)))

    async def export_member(self, user_id: str) -> dict[str, object]:
        # Only hashes of short-lived tokens: nothing a member could read.
        return {}

    async def erase_member(self, user_id: str) -> int:
        async with self._db.transaction() as session:
            links = await session.execute(delete(LoginLink).where(LoginLink.user_id == user_id))
            sessions = await session.execute(delete(WebSession).where(WebSession.user_id == user_id))
        return rowcount(links) + rowcount(sessions)
