"""Reads and writes profiles, welcome markers and spotlight history."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from bot.clock import Clock
from bot.secrets import WELCOME, Secrets, key_bytes
from bot.storage import Database
from bot.storage.results import rowcount
from commands.introductions.models import Profile, SpotlightPost, WelcomeMarker
from commands.introductions.records import ProfileRecord
from commands.introductions.spotlight import ShownBefore

# Answer names (as the conversation and the one-line form use them) -> record fields.
LIST_FIELDS = ("work_days", "meet_days", "goals", "themes", "meet_professions")
TEXT_FIELDS = ("about", "weighing")
SCALAR_FIELDS = ("profession", "experience", "years", "region", "setting", "listed", "spotlight")
PROFILE_FIELDS = SCALAR_FIELDS + LIST_FIELDS + TEXT_FIELDS


def to_record(row: Profile) -> ProfileRecord:
    return record_from({name: getattr(row, name) for name in (*PROFILE_FIELDS, "user_id", "updated_at")})


def record_from(values: Mapping[str, Any]) -> ProfileRecord:
    """A profile row's values (read as a plain row or from an ORM object) as a record."""
    return ProfileRecord(
        user_id=str(values["user_id"]),
        profession=str(values["profession"]),
        experience=values["experience"],
        years=values["years"],
        region=values["region"],
        setting=values["setting"],
        work_days=tuple(values["work_days"] or ()),
        meet_days=tuple(values["meet_days"] or ()),
        goals=tuple(values["goals"] or ()),
        themes=tuple(values["themes"] or ()),
        meet_professions=tuple(values["meet_professions"] or ()),
        about=values["about"],
        weighing=values["weighing"],
        listed=bool(values["listed"]),
        spotlight=bool(values["spotlight"]),
        updated_at=values["updated_at"],
    )


def answers_of(record: ProfileRecord) -> dict[str, Any]:
    """A record as conversation answers (the defaults when a member introduces again)."""
    answers: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        value = getattr(record, name)
        if value is None or value == ():
            continue
        answers[name] = list(value) if isinstance(value, tuple) else value
    for flag in ("listed", "spotlight"):
        answers[flag] = "yes" if getattr(record, flag) else "no"
    return answers


class ProfileStore:
    """The introductions feature's database access; every method is one transaction."""

    def __init__(self, db: Database, clock: Clock, secrets: Secrets | None = None) -> None:
        self._db = db
        self._clock = clock
        self._secrets = secrets if secrets is not None else Secrets.from_environment()
        self._marker_secret: bytes | None = None

    async def get(self, user_id: str) -> ProfileRecord | None:
        async with self._db.session() as session:
            row = await session.get(Profile, user_id)
        return to_record(row) if row is not None else None

    async def listed(self) -> list[ProfileRecord]:
        """Every listed profile, read as plain rows: at start-up this loads the whole
        directory, where building ORM objects would cost most of the time."""
        columns = [getattr(Profile, name) for name in (*PROFILE_FIELDS, "user_id", "updated_at")]
        async with self._db.session() as session:
            rows = (await session.execute(select(*columns).where(Profile.listed.is_(True)))).mappings().all()
        return [record_from(dict(row)) for row in rows]

    async def save(self, user_id: str, values: Mapping[str, Any]) -> tuple[ProfileRecord, bool]:
        """Create or update a profile; returns it and whether it is new.

        Only called after the member consented: the consent moment is kept on creation.
        """
        now = self._clock.now()
        async with self._db.transaction() as session:
            row = await session.get(Profile, user_id)
            created = row is None
            if row is None:
                row = Profile(user_id=user_id, consent_at=now, created_at=now, listed=False, spotlight=False)
                row.work_days, row.meet_days, row.goals, row.themes = [], [], [], []
                row.meet_professions = []
                session.add(row)
            for name, value in values.items():
                if name in PROFILE_FIELDS:
                    setattr(row, name, list(value) if name in LIST_FIELDS else value)
            row.updated_at = now
            await session.flush()
            record = to_record(row)
        return record, created

    async def set_card(self, user_id: str, room_id: str, event_id: str) -> None:
        async with self._db.transaction() as session:
            row = await session.get(Profile, user_id)
            if row is not None:
                row.card_room_id, row.card_event_id = room_id, event_id

    async def clear_card(self, user_id: str) -> None:
        async with self._db.transaction() as session:
            row = await session.get(Profile, user_id)
            if row is not None:
                row.card_room_id, row.card_event_id = None, None

    async def card_of(self, user_id: str) -> tuple[str, str] | None:
        async with self._db.session() as session:
            row = await session.get(Profile, user_id)
        if row is None or not row.card_room_id or not row.card_event_id:
            return None
        return row.card_room_id, row.card_event_id

    # -- welcome markers ------------------------------------------------------------

    async def marker_for(self, user_id: str) -> str:
        """A keyed hash of the member id: the id is not kept, only the hash.

        The secret is the operator's (environment or keys file) or else generated once
        and kept in the database (see :mod:`bot.secrets`).
        """
        if self._marker_secret is None:
            self._marker_secret = key_bytes(await self._secrets.get_or_generate(self._db, WELCOME))
        return hmac.new(self._marker_secret, user_id.encode(), hashlib.sha256).hexdigest()

    async def was_welcomed(self, marker: str) -> bool:
        async with self._db.session() as session:
            return await session.get(WelcomeMarker, marker) is not None

    async def mark_welcomed(self, marker: str) -> None:
        async with self._db.transaction() as session:
            if await session.get(WelcomeMarker, marker) is None:
                session.add(WelcomeMarker(marker=marker, sent_at=self._clock.now()))

    # -- spotlight -------------------------------------------------------------------

    async def spotlight_candidates(self) -> list[ProfileRecord]:
        async with self._db.session() as session:
            rows = (
                await session.scalars(
                    select(Profile).where(
                        Profile.spotlight.is_(True), Profile.listed.is_(True), Profile.weighing.is_not(None)
                    )
                )
            ).all()
        return [to_record(row) for row in rows if (row.weighing or "").strip()]

    async def spotlight_history(self) -> list[ShownBefore]:
        async with self._db.session() as session:
            rows = (await session.scalars(select(SpotlightPost).order_by(SpotlightPost.id))).all()
        return [ShownBefore(r.user_id, r.profession, r.round, r.shown_at) for r in rows]

    async def record_spotlight(self, user_id: str, profession: str, round_number: int) -> None:
        async with self._db.transaction() as session:
            session.add(
                SpotlightPost(
                    user_id=user_id, profession=profession, round=round_number, shown_at=self._clock.now()
                )
            )

    # -- privacy ---------------------------------------------------------------------

    async def export_member(self, user_id: str) -> dict[str, Any]:
        async with self._db.session() as session:
            row = await session.get(Profile, user_id)
            shown = (
                await session.scalars(select(SpotlightPost.shown_at).where(SpotlightPost.user_id == user_id))
            ).all()
        # The marker holds no id, but it is about the member: its date belongs in the
        # export (it stays after an erase, so they are never welcomed twice).
        marker = await self.marker_for(user_id)
        async with self._db.session() as session:
            welcome = await session.get(WelcomeMarker, marker)
        if row is None and not shown and welcome is None:
            return {}
        data: dict[str, Any] = {}
        if welcome is not None:
            data["welcomed_at"] = welcome.sent_at.isoformat()
        if row is not None:
            record = to_record(row)
            data["profile"] = {name: _plain(getattr(record, name)) for name in PROFILE_FIELDS}
            data["consent_given_at"] = row.consent_at.isoformat()
            data["created_at"] = row.created_at.isoformat()
            data["updated_at"] = row.updated_at.isoformat()
            if row.card_event_id:
                data["introduction_card"] = {"room_id": row.card_room_id, "event_id": row.card_event_id}
        if shown:
            data["practice_spotlight_shown_at"] = [moment.isoformat() for moment in shown]
        return data

    async def erase_member(self, user_id: str) -> int:
        async with self._db.transaction() as session:
            profiles = await session.execute(delete(Profile).where(Profile.user_id == user_id))
            posts = await session.execute(delete(SpotlightPost).where(SpotlightPost.user_id == user_id))
        return rowcount(profiles) + rowcount(posts)

    async def professions_and_themes(self, user_ids: list[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Profession and themes of many members in one query (for the digest)."""
        found: dict[str, tuple[str, tuple[str, ...]]] = {}
        async with self._db.session() as session:
            for start in range(0, len(user_ids), 500):
                rows = await session.execute(
                    select(Profile.user_id, Profile.profession, Profile.themes).where(
                        Profile.user_id.in_(user_ids[start : start + 500])
                    )
                )
                for user, profession, themes in rows.all():
                    found[user] = (profession, tuple(themes or ()))
        return found

    async def listed_since(self, since: datetime) -> list[tuple[datetime, ProfileRecord]]:
        """Listed profiles created since ``since``, oldest first, with the moment each was
        created (new members, for the digest: each member's window starts elsewhere)."""
        async with self._db.session() as session:
            rows = await session.scalars(
                select(Profile)
                .where(Profile.listed.is_(True), Profile.created_at >= since)
                .order_by(Profile.created_at)
            )
            return [(row.created_at, to_record(row)) for row in rows.all()]

    async def meet_choices(self, user_ids: list[str]) -> dict[str, tuple[str, ...]]:
        """The professions each of many members would like to meet, in one query per 500;
        members without a choice (or a profile) are left out."""
        found: dict[str, tuple[str, ...]] = {}
        async with self._db.session() as session:
            for start in range(0, len(user_ids), 500):
                rows = await session.execute(
                    select(Profile.user_id, Profile.meet_professions).where(
                        Profile.user_id.in_(user_ids[start : start + 500])
                    )
                )
                for user, chosen in rows.all():
                    if chosen:
                        found[user] = tuple(chosen)
        return found

    async def profession_counts(self) -> dict[str, tuple[int, int]]:
        """Per profession: profiles, and how many of them introduced themselves (a card)."""
        async with self._db.session() as session:
            rows = await session.execute(
                select(Profile.profession, func.count(), func.count(Profile.card_event_id)).group_by(
                    Profile.profession
                )
            )
            return {profession: (int(total), int(cards)) for profession, total, cards in rows.all()}

    async def count_profiles(self) -> int:
        async with self._db.session() as session:
            return int(await session.scalar(select(func.count()).select_from(Profile)) or 0)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
