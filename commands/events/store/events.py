"""Events themselves: creating, reading, changing and cancelling them, their cards."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.errors import UserError
from commands.events.models import Card, Event
from commands.events.records import EventRecord
from commands.events.store.common import ANNOUNCED, CANCELLED, DRAFT, NewEvent, StoreBase, _aware, to_record


class EventRows(StoreBase):
    async def create(self, items: list[NewEvent], organiser: str, status: str = DRAFT) -> list[EventRecord]:
        """Create one event, or a series of several parts sharing ``series_id``."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            rows: list[Event] = []
            for part, item in enumerate(items, start=1):
                row = Event(
                    uid=f"{uuid.uuid4()}@{self._uid_domain}",
                    title=item.title,
                    starts_at=item.starts_at,
                    ends_at=item.ends_at,
                    form=item.form,
                    place=item.place,
                    link=item.link,
                    theme=item.theme,
                    programme=item.programme,
                    accreditation=item.accreditation,
                    points=item.points,
                    lunch=item.lunch,
                    capacity=item.capacity,
                    audience=list(item.audience),
                    status=status,
                    organiser=organiser,
                    sequence=0,
                    signup_counter=0,
                    series_part=part if len(items) > 1 else None,
                    series_size=len(items) if len(items) > 1 else None,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                rows.append(row)
            await session.flush()
            if len(rows) > 1:
                for row in rows:
                    row.series_id = rows[0].id
                await session.flush()
            return [to_record(row) for row in rows]

    async def get(self, event_id: int) -> EventRecord | None:
        async with self._db.session() as session:
            row = await session.get(Event, event_id)
        return to_record(row) if row is not None else None

    async def series(self, series_id: int) -> list[EventRecord]:
        async with self._db.session() as session:
            rows = (
                await session.scalars(
                    select(Event).where(Event.series_id == series_id).order_by(Event.series_part)
                )
            ).all()
        return [to_record(row) for row in rows]

    async def upcoming(self, now: datetime, statuses: Iterable[str] = (ANNOUNCED,)) -> list[EventRecord]:
        async with self._db.session() as session:
            rows = (
                await session.scalars(
                    select(Event)
                    .where(Event.ends_at > now, Event.status.in_(list(statuses)))
                    .order_by(Event.starts_at, Event.id)
                )
            ).all()
        return [to_record(row) for row in rows]

    async def schedule_rows(self, now: datetime) -> list[tuple[int, datetime, datetime]]:
        """(id, starts_at, ends_at) of every announced event not yet evaluated: the jobs
        to rebuild at start. Plain rows: at start-up this may be thousands of events."""
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(Event.id, Event.starts_at, Event.ends_at).where(
                        Event.status == ANNOUNCED, Event.ends_at > now
                    )
                )
            ).all()
        return [(int(i), _aware(s), _aware(e)) for i, s, e in rows]

    async def overlapping(
        self, starts_at: datetime, ends_at: datetime, exclude: Iterable[int] = ()
    ) -> list[EventRecord]:
        excluded = list(exclude)
        async with self._db.session() as session:
            query = select(Event).where(
                Event.status == ANNOUNCED, Event.starts_at < ends_at, Event.ends_at > starts_at
            )
            if excluded:
                query = query.where(Event.id.not_in(excluded))
            rows = (await session.scalars(query)).all()
        return [to_record(row) for row in rows]

    async def update(self, event_id: int, values: Mapping[str, Any]) -> EventRecord:
        """Change an event; the calendar sequence grows by one."""
        async with self._db.transaction() as session:
            row = await session.get(Event, event_id)
            if row is None:
                raise UserError("events.error.not_found", id=event_id)
            for name, value in values.items():
                setattr(row, name, list(value) if name == "audience" else value)
            row.sequence += 1
            row.updated_at = self._clock.now()
            await session.flush()
            return to_record(row)

    async def set_status(self, event_id: int, status: str) -> EventRecord:
        async with self._db.transaction() as session:
            row = await session.get(Event, event_id)
            if row is None:
                raise UserError("events.error.not_found", id=event_id)
            if status == CANCELLED:
                row.sequence += 1
            row.status = status
            row.updated_at = self._clock.now()
            await session.flush()
            return to_record(row)

    async def set_card(self, event_id: int, room_id: str, card_event_id: str) -> None:
        async with self._db.transaction() as session:
            row = await session.get(Event, event_id)
            if row is None:
                return
            row.card_room_id, row.card_event_id = room_id, card_event_id
            if await session.get(Card, card_event_id) is None:
                session.add(Card(card_event_id=card_event_id, event_id=event_id))

    async def by_card(self, card_event_id: str) -> int | None:
        """The event announced by a card (the current one, or one it replaced)."""
        async with self._db.session() as session:
            card = await session.get(Card, card_event_id)
        return int(card.event_id) if card is not None else None

    async def ending(self, since: datetime, until: datetime) -> list[EventRecord]:
        """Announced events that end in ``[since, until)``."""
        async with self._db.session() as session:
            rows = (
                await session.scalars(
                    select(Event)
                    .where(Event.status == ANNOUNCED, Event.ends_at >= since, Event.ends_at < until)
                    .order_by(Event.ends_at, Event.id)
                )
            ).all()
        return [to_record(row) for row in rows]
