"""Attendance (marked by an organiser or by a check-in, and taken back) and evaluations."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select

from bot.storage.results import rowcount
from commands.events.models import Attendance, Evaluation, Event
from commands.events.records import EvaluationRecord, EventRecord
from commands.events.store.common import StoreBase, _aware, to_record


class AttendanceRows(StoreBase):
    async def record_attendance(self, event_id: int, users: Iterable[str]) -> int:
        now = self._clock.now()
        added = 0
        async with self._db.transaction() as session:
            for user in dict.fromkeys(users):
                if await session.get(Attendance, (event_id, user)) is None:
                    session.add(Attendance(event_id=event_id, user_id=user, recorded_at=now))
                    added += 1
        return added

    async def attendees(self, event_id: int) -> list[str]:
        async with self._db.session() as session:
            rows = (
                await session.scalars(
                    select(Attendance.user_id)
                    .where(Attendance.event_id == event_id)
                    .order_by(Attendance.recorded_at)
                )
            ).all()
        return list(rows)

    async def attendance_times(self, event_id: int) -> list[tuple[str, datetime]]:
        """Who was there and when it was recorded, in that order."""
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(Attendance.user_id, Attendance.recorded_at)
                    .where(Attendance.event_id == event_id)
                    .order_by(Attendance.recorded_at)
                )
            ).all()
        return [(str(u), _aware(t)) for u, t in rows]

    async def remove_attendance(self, event_id: int, users: Iterable[str]) -> int:
        """Take members off the attendance (an organiser's correction)."""
        wanted = list(dict.fromkeys(users))
        if not wanted:
            return 0
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(Attendance).where(Attendance.event_id == event_id, Attendance.user_id.in_(wanted))
            )
        return rowcount(result)

    async def attended(self, user_id: str) -> list[EventRecord]:
        async with self._db.session() as session:
            rows = (
                await session.scalars(
                    select(Event)
                    .join(Attendance, Attendance.event_id == Event.id)
                    .where(Attendance.user_id == user_id)
                    .order_by(Event.starts_at)
                )
            ).all()
        return [to_record(row) for row in rows]

    async def save_evaluation(
        self,
        event_id: int,
        user_id: str,
        profession: str | None,
        worked: str | None,
        not_worked: str | None,
        tips: str | None,
        rating: int | None = None,
    ) -> None:
        now = self._clock.now()
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(Evaluation).where(Evaluation.event_id == event_id, Evaluation.user_id == user_id)
            )
            if row is None:
                row = Evaluation(event_id=event_id, user_id=user_id, submitted_at=now)
                session.add(row)
            row.profession, row.worked, row.not_worked, row.tips = profession, worked, not_worked, tips
            row.rating = rating
            row.submitted_at = now

    async def evaluations(self, event_id: int) -> list[EvaluationRecord]:
        async with self._db.session() as session:
            rows = (
                await session.scalars(
                    select(Evaluation)
                    .where(Evaluation.event_id == event_id)
                    .order_by(Evaluation.submitted_at)
                )
            ).all()
        return [
            EvaluationRecord(r.event_id, r.profession, r.worked, r.not_worked, r.tips, r.rating) for r in rows
        ]
