"""Sign-ups and the waitlist, and the members' reminder preference.

Sign-ups are decided inside one write transaction that first locks the event's row
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` takes the whole
database's write lock), so the count of places taken and the new answer are one atomic
step: fifty members signing up at once for ten places never make eleven.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import UserError
from commands.events.models import Event, ReminderPreference, Rsvp
from commands.events.records import RsvpOutcome, RsvpRecord
from commands.events.store.common import (
    CANCELLED,
    DRAFT,
    GOING,
    RSVP_STATUSES,
    WAITING,
    StoreBase,
    _aware,
    _rsvp,
)


class SignUpRows(StoreBase):
    async def _locked_event(self, session: AsyncSession, event_id: int) -> Event:
        row = (
            await session.execute(select(Event).where(Event.id == event_id).with_for_update())
        ).scalar_one_or_none()
        if row is None or row.status == DRAFT:
            raise UserError("events.error.not_found", id=event_id)
        if row.status == CANCELLED:
            raise UserError("events.error.cancelled", id=event_id, title=row.title)
        if _aware(row.starts_at) <= self._clock.now():
            raise UserError("events.error.started", id=event_id, title=row.title)
        return row

    async def answer(self, event_id: int, user_id: str, wanted: str, via: str) -> RsvpOutcome:
        """Record going (a place, or the waitlist when full), maybe or not going, atomically."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            event = await self._locked_event(session, event_id)
            existing = await session.scalar(
                select(Rsvp).where(Rsvp.event_id == event_id, Rsvp.user_id == user_id)
            )
            previous = existing.status if existing is not None else None
            if wanted == GOING and previous in (GOING, WAITING):
                rank = await self._rank(session, existing) if existing and previous == WAITING else None
                return RsvpOutcome(previous, previous, rank, changed=False)
            if wanted != GOING and previous == wanted:
                return RsvpOutcome(previous, previous, changed=False)
            status = wanted
            if wanted == GOING and event.capacity is not None:
                taken = await self._count(session, event_id, GOING)
                status = GOING if taken < event.capacity else WAITING
            event.signup_counter = (event.signup_counter or 0) + 1
            if existing is None:
                existing = Rsvp(
                    event_id=event_id,
                    user_id=user_id,
                    status=status,
                    position=event.signup_counter,
                    via=via,
                    created_at=now,
                    updated_at=now,
                )
                session.add(existing)
            else:
                existing.status, existing.via, existing.updated_at = status, via, now
                existing.position = event.signup_counter
            await session.flush()
            promoted = await self._promote(session, event) if previous == GOING else ()
            rank = await self._rank(session, existing) if status == WAITING else None
            return RsvpOutcome(status, previous, rank, changed=True, promoted=promoted)

    async def withdraw(self, event_id: int, user_id: str, only: Iterable[str] | None = None) -> RsvpOutcome:
        """Take a member's answer back (removed reaction); a freed place goes to the
        first on the waitlist. ``only``: withdraw only an answer of these statuses."""
        async with self._db.transaction() as session:
            event = await self._locked_event(session, event_id)
            existing = await session.scalar(
                select(Rsvp).where(Rsvp.event_id == event_id, Rsvp.user_id == user_id)
            )
            if existing is None or (only is not None and existing.status not in set(only)):
                return RsvpOutcome(existing.status if existing else None, None, changed=False)
            previous = existing.status
            await session.delete(existing)
            await session.flush()
            promoted = await self._promote(session, event) if previous == GOING else ()
            return RsvpOutcome(None, previous, changed=True, promoted=promoted)

    async def fill_places(self, event_id: int) -> tuple[RsvpRecord, ...]:
        """After the capacity grew: move up as many as there are free places."""
        async with self._db.transaction() as session:
            event = await self._locked_event(session, event_id)
            return await self._promote(session, event)

    async def _count(self, session: AsyncSession, event_id: int, status: str) -> int:
        return int(
            await session.scalar(
                select(func.count()).select_from(Rsvp).where(Rsvp.event_id == event_id, Rsvp.status == status)
            )
            or 0
        )

    async def _rank(self, session: AsyncSession, rsvp: Rsvp) -> int:
        ahead = await session.scalar(
            select(func.count())
            .select_from(Rsvp)
            .where(Rsvp.event_id == rsvp.event_id, Rsvp.status == WAITING, Rsvp.position < rsvp.position)
        )
        return int(ahead or 0) + 1

    async def _promote(self, session: AsyncSession, event: Event) -> tuple[RsvpRecord, ...]:
        moved: list[RsvpRecord] = []
        if event.capacity is None:
            waiting = (
                await session.scalars(
                    select(Rsvp)
                    .where(Rsvp.event_id == event.id, Rsvp.status == WAITING)
                    .order_by(Rsvp.position)
                )
            ).all()
        else:
            free = event.capacity - await self._count(session, event.id, GOING)
            if free <= 0:
                return ()
            waiting = (
                await session.scalars(
                    select(Rsvp)
                    .where(Rsvp.event_id == event.id, Rsvp.status == WAITING)
                    .order_by(Rsvp.position)
                    .limit(free)
                )
            ).all()
        now = self._clock.now()
        for row in waiting:
            row.status, row.updated_at = GOING, now
            moved.append(_rsvp(row))
        await session.flush()
        return tuple(moved)

    async def rsvps(self, event_id: int) -> list[RsvpRecord]:
        async with self._db.session() as session:
            rows = (
                await session.scalars(select(Rsvp).where(Rsvp.event_id == event_id).order_by(Rsvp.position))
            ).all()
        return [_rsvp(row) for row in rows]

    async def answer_of(self, event_id: int, user_id: str) -> RsvpRecord | None:
        async with self._db.session() as session:
            row = await session.scalar(select(Rsvp).where(Rsvp.event_id == event_id, Rsvp.user_id == user_id))
        return _rsvp(row) if row is not None else None

    async def counts(self, event_ids: Iterable[int]) -> dict[int, dict[str, int]]:
        ids = list(event_ids)
        result: dict[int, dict[str, int]] = {i: dict.fromkeys(RSVP_STATUSES, 0) for i in ids}
        if not ids:
            return result
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(Rsvp.event_id, Rsvp.status, func.count())
                    .where(Rsvp.event_id.in_(ids))
                    .group_by(Rsvp.event_id, Rsvp.status)
                )
            ).all()
        for event_id, status, count in rows:
            result[int(event_id)][status] = int(count)
        return result

    async def going_with_reminders(self, event_id: int) -> list[RsvpRecord]:
        """Those going who did not turn reminders off."""
        async with self._db.session() as session:
            rows = (
                await session.scalars(
                    select(Rsvp)
                    .outerjoin(ReminderPreference, ReminderPreference.user_id == Rsvp.user_id)
                    .where(
                        Rsvp.event_id == event_id,
                        Rsvp.status == GOING,
                        func.coalesce(ReminderPreference.reminders, True).is_(True),
                    )
                    .order_by(Rsvp.position)
                )
            ).all()
        return [_rsvp(row) for row in rows]

    # -- reminders -------------------------------------------------------------------

    async def set_reminders(self, user_id: str, on: bool) -> None:
        async with self._db.transaction() as session:
            row = await session.get(ReminderPreference, user_id)
            if on:
                if row is not None:
                    await session.delete(row)
                return
            if row is None:
                session.add(
                    ReminderPreference(user_id=user_id, reminders=False, updated_at=self._clock.now())
                )
            else:
                row.reminders, row.updated_at = False, self._clock.now()

    async def reminders_on(self, user_id: str) -> bool:
        async with self._db.session() as session:
            row = await session.get(ReminderPreference, user_id)
        return row is None or row.reminders

    # -- for the organisers' web page --------------------------------------------------

    async def move_up(self, event_id: int, user_id: str) -> RsvpRecord | None:
        """An organiser gives a waiting member a place, whatever the count (they decide
        there is room); None when the member was not on the waitlist."""
        async with self._db.transaction() as session:
            await self._locked_event(session, event_id)
            row = await session.scalar(
                select(Rsvp).where(Rsvp.event_id == event_id, Rsvp.user_id == user_id, Rsvp.status == WAITING)
            )
            if row is None:
                return None
            row.status, row.updated_at = GOING, self._clock.now()
            await session.flush()
            return _rsvp(row)
