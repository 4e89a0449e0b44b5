"""Reads and writes registration numbers, certificate names, check-in codes, check-ins
and exports; every method is one unit of work."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from bot.clock import Clock
from bot.storage import Database
from bot.storage.results import rowcount
from commands.accreditation.codes import new_code
from commands.accreditation.models import (
    CertificateName,
    Checkin,
    CheckinCode,
    PresenceExport,
    RegistrationNumber,
)
from commands.accreditation.registers import OTHER, Number


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class CodeRecord:
    event_id: int
    code: str
    opens_at: datetime
    closes_at: datetime


def _number(row: RegistrationNumber) -> Number:
    return Number(row.register, row.number, row.label or None)


class AccreditationStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    # -- numbers and names -------------------------------------------------------------

    async def set_number(self, user_id: str, number: Number) -> bool:
        """Add or replace the member's number in that register; True when it was new."""
        now = self._clock.now()
        label = number.label or "" if number.register == OTHER else ""
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(RegistrationNumber).where(
                    RegistrationNumber.user_id == user_id,
                    RegistrationNumber.register == number.register,
                    RegistrationNumber.label == label,
                )
            )
            if row is not None:
                row.number = number.number
                row.consented_at = now
                return False
            session.add(
                RegistrationNumber(
                    user_id=user_id,
                    register=number.register,
                    label=label,
                    number=number.number,
                    consented_at=now,
                )
            )
        return True

    async def remove_number(self, user_id: str, register: str, label: str = "") -> int:
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(RegistrationNumber).where(
                    RegistrationNumber.user_id == user_id,
                    RegistrationNumber.register == register,
                    RegistrationNumber.label == label,
                )
            )
        return rowcount(result)

    async def numbers(self, user_ids: Iterable[str]) -> dict[str, tuple[Number, ...]]:
        wanted = list(dict.fromkeys(user_ids))
        if not wanted:
            return {}
        async with self._db.session() as session:
            rows = (
                await session.scalars(
                    select(RegistrationNumber)
                    .where(RegistrationNumber.user_id.in_(wanted))
                    .order_by(
                        RegistrationNumber.user_id, RegistrationNumber.register, RegistrationNumber.label
                    )
                )
            ).all()
        found: dict[str, list[Number]] = {}
        for row in rows:
            found.setdefault(row.user_id, []).append(_number(row))
        return {user: tuple(numbers) for user, numbers in found.items()}

    async def set_name(self, user_id: str, name: str | None) -> None:
        async with self._db.transaction() as session:
            row = await session.get(CertificateName, user_id)
            if not name:
                if row is not None:
                    await session.delete(row)
                return
            if row is None:
                session.add(CertificateName(user_id=user_id, name=name, updated_at=self._clock.now()))
            else:
                row.name = name
                row.updated_at = self._clock.now()

    async def names(self, user_ids: Iterable[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(user_ids))
        if not wanted:
            return {}
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(CertificateName.user_id, CertificateName.name).where(
                        CertificateName.user_id.in_(wanted)
                    )
                )
            ).all()
        return {str(u): str(n) for u, n in rows}

    # -- codes and check-ins -------------------------------------------------------------

    async def issue_code(self, event_id: int, opens_at: datetime, closes_at: datetime, by: str) -> CodeRecord:
        """A fresh code for the event (the old one stops working). Codes are unique among
        the stored ones; a collision draws again."""
        for _ in range(20):
            code = new_code()
            try:
                async with self._db.transaction() as session:
                    if await session.scalar(select(CheckinCode.event_id).where(CheckinCode.code == code)):
                        continue
                    row = await session.get(CheckinCode, event_id)
                    if row is None:
                        row = CheckinCode(event_id=event_id, created_by=by, created_at=self._clock.now())
                        session.add(row)
                    row.code, row.opens_at, row.closes_at = code, opens_at, closes_at
                    row.created_by, row.created_at = by, self._clock.now()
                return CodeRecord(event_id, code, opens_at, closes_at)
            except IntegrityError:
                continue
        raise RuntimeError("no free check-in code found")

    async def code_of(self, event_id: int) -> CodeRecord | None:
        """The event's current code (for a page that shows it again)."""
        async with self._db.session() as session:
            row = await session.get(CheckinCode, event_id)
        if row is None:
            return None
        return CodeRecord(int(row.event_id), row.code, _aware(row.opens_at), _aware(row.closes_at))

    async def code(self, code: str) -> CodeRecord | None:
        async with self._db.session() as session:
            row = await session.scalar(select(CheckinCode).where(CheckinCode.code == code))
        if row is None:
            return None
        return CodeRecord(int(row.event_id), row.code, _aware(row.opens_at), _aware(row.closes_at))

    async def check_in(self, event_id: int, user_id: str) -> tuple[bool, datetime]:
        """Record the check-in; (False, first time) when the member had checked in before."""
        now = self._clock.now()
        try:
            async with self._db.transaction() as session:
                row = await session.get(Checkin, (event_id, user_id))
                if row is not None:
                    return False, _aware(row.checked_in_at)
                session.add(Checkin(event_id=event_id, user_id=user_id, checked_in_at=now))
        except IntegrityError:
            # The same member twice at once: the other one won.
            return False, now
        return True, now

    async def checkins(self, event_id: int) -> dict[str, datetime]:
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(Checkin.user_id, Checkin.checked_in_at).where(Checkin.event_id == event_id)
                )
            ).all()
        return {str(u): _aware(t) for u, t in rows}

    # -- exports -------------------------------------------------------------------------

    async def mark_exported(self, event_id: int, by: str) -> None:
        async with self._db.transaction() as session:
            row = await session.get(PresenceExport, event_id)
            if row is None:
                session.add(PresenceExport(event_id=event_id, exported_by=by, exported_at=self._clock.now()))
            else:
                row.exported_by, row.exported_at = by, self._clock.now()

    async def exported(self, event_id: int) -> bool:
        async with self._db.session() as session:
            return await session.get(PresenceExport, event_id) is not None

    # -- personal data ------------------------------------------------------------------

    async def export_member(self, user_id: str) -> dict[str, Any]:
        numbers = (await self.numbers([user_id])).get(user_id, ())
        name = (await self.names([user_id])).get(user_id)
        async with self._db.session() as session:
            checkins = (
                await session.execute(
                    select(Checkin.event_id, Checkin.checked_in_at).where(Checkin.user_id == user_id)
                )
            ).all()
        data: dict[str, Any] = {}
        if numbers:
            data["registration_numbers"] = [
                {"register": n.register_name, "number": n.number} for n in numbers
            ]
        if name:
            data["certificate_name"] = name
        if checkins:
            data["checkins"] = [{"event": int(e), "at": _aware(t).isoformat()} for e, t in checkins]
        return data

    async def erase_member(self, user_id: str) -> int:
        """Numbers, name and check-ins go; as an organiser, their name leaves the exports
        and codes they made (the rows stay: the reminders must not start again)."""
        removed = 0
        async with self._db.transaction() as session:
            for column in (RegistrationNumber.user_id, CertificateName.user_id, Checkin.user_id):
                result = await session.execute(delete(column.class_).where(column == user_id))
                removed += rowcount(result)
            for column in (PresenceExport.exported_by, CheckinCode.created_by):
                result = await session.execute(
                    update(column.class_).where(column == user_id).values({column: ""})
                )
                removed += rowcount(result)
        return removed
