"""The organisers' overview: events of a period with their places, waitlist and
attendance counted in the database (one query per table, never one per event)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from commands.events.models import Attendance, Event, Rsvp
from commands.events.store.common import ANNOUNCED, CANCELLED, GOING, WAITING, StoreBase, _aware


@dataclass(frozen=True)
class EventCounts:
    id: int
    title: str
    starts_at: datetime
    ends_at: datetime
    place: str | None
    capacity: int | None
    going: int
    waiting: int
    attended: int


class OverviewRows(StoreBase):
    async def counted(
        self, since: datetime | None = None, until: datetime | None = None, *, event_id: int | None = None
    ) -> list[EventCounts]:
        """Announced events ending in ``[since, until)`` (or the one ``event_id``),
        soonest first, each with those going, waiting and there."""
        async with self._db.session() as session:
            return await self._counted(session, since, until, event_id)

    async def counted_with_places(
        self, event_id: int
    ) -> tuple[EventCounts, list[tuple[str, str, datetime]]] | None:
        """One announced event's counts and (user id, status, signed up at) of those going
        and waiting in sign-up order (the waitlist's order), in one read."""
        async with self._db.session() as session:
            found = await self._counted(session, None, None, event_id)
            if not found:
                return None
            rows = (
                await session.execute(
                    select(Rsvp.user_id, Rsvp.status, Rsvp.created_at)
                    .where(Rsvp.event_id == event_id, Rsvp.status.in_((GOING, WAITING)))
                    .order_by(Rsvp.position)
                )
            ).all()
        return found[0], [(str(u), str(s), _aware(t)) for u, s, t in rows]

    async def _counted(
        self, session: AsyncSession, since: datetime | None, until: datetime | None, event_id: int | None
    ) -> list[EventCounts]:
        query = select(
            Event.id, Event.title, Event.starts_at, Event.ends_at, Event.place, Event.capacity
        ).where(Event.status == ANNOUNCED)
        if event_id is not None:
            query = query.where(Event.id == event_id)
        if since is not None:
            query = query.where(Event.ends_at >= since)
        if until is not None:
            query = query.where(Event.ends_at < until)
        events = (await session.execute(query.order_by(Event.starts_at, Event.id))).all()
        ids = [int(row[0]) for row in events]
        places: dict[tuple[int, str], int] = {}
        there: dict[int, int] = {}
        if ids:
            # Filtering on the same ids as the events keeps each count to the period's
            # events (an index on event_id): three reads whatever the number of events.
            for found, status, count in await session.execute(
                select(Rsvp.event_id, Rsvp.status, func.count())
                .where(Rsvp.event_id.in_(ids), Rsvp.status.in_((GOING, WAITING)))
                .group_by(Rsvp.event_id, Rsvp.status)
            ):
                places[(int(found), str(status))] = int(count)
            for found, count in await session.execute(
                select(Attendance.event_id, func.count())
                .where(Attendance.event_id.in_(ids))
                .group_by(Attendance.event_id)
            ):
                there[int(found)] = int(count)
        return [
            EventCounts(
                id=int(i),
                title=str(title),
                starts_at=_aware(starts),
                ends_at=_aware(ends),
                place=place,
                capacity=capacity,
                going=places.get((int(i), GOING), 0),
                waiting=places.get((int(i), WAITING), 0),
                attended=there.get(int(i), 0),
            )
            for i, title, starts, ends, place, capacity in events
        ]


class MemberCalendarRows(StoreBase):
    async def member_calendar(self, user_id: str) -> list[tuple[Event, str]]:
        """The announced and cancelled events the member is going to or waiting for,
        soonest first, in one query (drafts are nobody's agenda yet)."""
        query = (
            select(Event, Rsvp.status)
            .join(Rsvp, Rsvp.event_id == Event.id)
            .where(
                Rsvp.user_id == user_id,
                Rsvp.status.in_((GOING, WAITING)),
                Event.status.in_((ANNOUNCED, CANCELLED)),
            )
            .order_by(Event.starts_at, Event.id)
        )
        async with self._db.session() as session:
            return [(event, status) for event, status in (await session.execute(query)).all()]
