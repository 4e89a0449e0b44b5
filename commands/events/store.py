"""Reads and writes events, sign-ups, attendance, evaluations and reminder preferences.

Sign-ups are decided inside one write transaction that first locks the event's row
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` takes the whole
database's write lock), so the count of places taken and the new answer are one atomic
step: fifty members signing up at once for ten places never make eleven.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.errors import UserError
from bot.storage import Database
from commands.events.models import Attendance, Card, Evaluation, Event, ReminderPreference, Rsvp
from commands.events.records import EvaluationRecord, EventRecord, RsvpOutcome, RsvpRecord

GOING = "going"
WAITING = "waiting"
MAYBE = "maybe"
NOT_GOING = "not_going"
RSVP_STATUSES = (GOING, WAITING, MAYBE, NOT_GOING)
ANNOUNCED = "announced"
DRAFT = "draft"
CANCELLED = "cancelled"


def to_record(row: Event) -> EventRecord:
    return EventRecord(
        id=int(row.id),
        uid=row.uid,
        series_id=row.series_id,
        series_part=row.series_part,
        series_size=row.series_size,
        title=row.title,
        starts_at=_aware(row.starts_at),
        ends_at=_aware(row.ends_at),
        place=row.place,
        link=row.link,
        form=row.form,
        theme=row.theme,
        programme=row.programme,
        accreditation=row.accreditation,
        points=row.points,
        lunch=row.lunch,
        capacity=row.capacity,
        audience=tuple(row.audience or ()),
        status=row.status,
        organiser=row.organiser,
        sequence=row.sequence,
        card_room_id=row.card_room_id,
        card_event_id=row.card_event_id,
        updated_at=_aware(row.updated_at),
    )


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _rsvp(row: Rsvp) -> RsvpRecord:
    return RsvpRecord(int(row.id), int(row.event_id), row.user_id, row.status, row.position)


@dataclass(frozen=True)
class NewEvent:
    """The values of one event to create (one part of a series, or a single event)."""

    title: str
    starts_at: datetime
    ends_at: datetime
    form: str
    place: str | None = None
    link: str | None = None
    theme: str | None = None
    programme: str | None = None
    accreditation: str | None = None
    points: float | None = None
    lunch: bool | None = None
    capacity: int | None = None
    audience: tuple[str, ...] = ()


class EventStore:
    """The events feature's database access; every method is one unit of work."""

    def __init__(self, db: Database, clock: Clock, uid_domain: str) -> None:
        self._db = db
        self._clock = clock
        self._uid_domain = uid_domain

    # -- events ----------------------------------------------------------------------

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

    # -- sign-ups --------------------------------------------------------------------

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

    # -- attendance and evaluations --------------------------------------------------

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
        return int(getattr(result, "rowcount", 0) or 0)

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

    # -- privacy ---------------------------------------------------------------------

    # -- digest and stats ------------------------------------------------------------

    async def unanswered(
        self, user_ids: Iterable[str], now: datetime
    ) -> tuple[list[EventRecord], set[tuple[int, str]]]:
        """Announced events still to start, soonest first, and ``(event id, user id)`` of
        every answer (of any kind) these members gave to them: one read per table."""
        users = list(user_ids)
        answered: set[tuple[int, str]] = set()
        async with self._db.session() as session:
            rows = (
                await session.scalars(
                    select(Event)
                    .where(Event.starts_at > now, Event.status == ANNOUNCED)
                    .order_by(Event.starts_at, Event.id)
                )
            ).all()
            events = [to_record(row) for row in rows]
            if events and users:
                for start in range(0, len(users), 500):
                    found = await session.execute(
                        select(Rsvp.event_id, Rsvp.user_id).where(
                            Rsvp.event_id.in_([e.id for e in events]),
                            Rsvp.user_id.in_(users[start : start + 500]),
                        )
                    )
                    answered.update((int(event_id), str(user)) for event_id, user in found.all())
        return events, answered

    async def participation(self, since: datetime, until: datetime) -> tuple[list[str], list[str]]:
        """The members behind the period's sign-ups (first answered in the period, still
        going or on the waitlist) and attendances (events that started in the period),
        one entry per sign-up or attendance; only to be counted per profession."""
        async with self._db.session() as session:
            signups = (
                await session.scalars(
                    select(Rsvp.user_id).where(
                        Rsvp.status.in_((GOING, WAITING)),
                        Rsvp.created_at >= since,
                        Rsvp.created_at < until,
                    )
                )
            ).all()
            attended = (
                await session.scalars(
                    select(Attendance.user_id)
                    .join(Event, Event.id == Attendance.event_id)
                    .where(Event.starts_at >= since, Event.starts_at < until)
                )
            ).all()
        return list(signups), list(attended)

    async def export_member(self, user_id: str) -> dict[str, Any]:
        async with self._db.session() as session:
            rsvps = (
                await session.execute(
                    select(Rsvp, Event.title)
                    .join(Event, Event.id == Rsvp.event_id)
                    .where(Rsvp.user_id == user_id)
                )
            ).all()
            attended = (await session.scalars(select(Attendance).where(Attendance.user_id == user_id))).all()
            evaluations = (
                await session.scalars(select(Evaluation).where(Evaluation.user_id == user_id))
            ).all()
            pref = await session.get(ReminderPreference, user_id)
            organised = (await session.scalars(select(Event.id).where(Event.organiser == user_id))).all()
        data: dict[str, Any] = {}
        if rsvps:
            data["sign_ups"] = [
                {
                    "event": r.event_id,
                    "title": title,
                    "status": r.status,
                    "via": r.via,
                    "at": r.updated_at.isoformat(),
                }
                for r, title in rsvps
            ]
        if attended:
            data["attended"] = [
                {"event": a.event_id, "recorded_at": a.recorded_at.isoformat()} for a in attended
            ]
        if evaluations:
            data["evaluations"] = [
                {
                    "event": e.event_id,
                    "profession": e.profession,
                    "worked": e.worked,
                    "not_worked": e.not_worked,
                    "tips": e.tips,
                    "rating": e.rating,
                    "at": e.submitted_at.isoformat(),
                }
                for e in evaluations
            ]
        if pref is not None:
            data["reminders"] = "on" if pref.reminders else "off"
        if organised:
            data["organised_events"] = [int(i) for i in organised]
        return data

    async def erase_member(self, user_id: str) -> tuple[int, list[int]]:
        """Remove the member's rows; returns the count and the events where they held a
        place (so the waitlist can move up). Events they organised keep no name."""
        async with self._db.transaction() as session:
            going = (
                await session.scalars(
                    select(Rsvp.event_id).where(Rsvp.user_id == user_id, Rsvp.status == GOING)
                )
            ).all()
            removed = 0
            for model in (Rsvp, Attendance, Evaluation, ReminderPreference):
                result = await session.execute(
                    delete(model).where(model.user_id == user_id).execution_options(synchronize_session=False)
                )
                removed += int(getattr(result, "rowcount", 0) or 0)
            organised = (await session.scalars(select(Event).where(Event.organiser == user_id))).all()
            for row in organised:
                row.organiser = None
                removed += 1
        return removed, [int(i) for i in going]
