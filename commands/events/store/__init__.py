"""The events store: one object whose methods are grouped by job in the modules of this
package (events, sign-ups and the waitlist, attendance and evaluations, the organisers'
overview), plus what concerns one member across them (the digest's and the stats'
reads, export, erasure).

``from commands.events.store import EventStore, GOING, …`` keeps working: the names
callers use are re-exported here."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from bot.storage.results import rowcount
from commands.events.models import Attendance, Evaluation, Event, ReminderPreference, Rsvp
from commands.events.records import EventRecord
from commands.events.store.attendance import AttendanceRows
from commands.events.store.common import (
    ANNOUNCED,
    CANCELLED,
    DRAFT,
    GOING,
    MAYBE,
    NOT_GOING,
    RSVP_STATUSES,
    WAITING,
    NewEvent,
    to_record,
)
from commands.events.store.events import EventRows
from commands.events.store.overview import EventCounts, MemberCalendarRows, OverviewRows
from commands.events.store.signups import SignUpRows

__all__ = [
    "ANNOUNCED",
    "CANCELLED",
    "DRAFT",
    "GOING",
    "MAYBE",
    "NOT_GOING",
    "RSVP_STATUSES",
    "WAITING",
    "EventCounts",
    "EventStore",
    "NewEvent",
    "to_record",
]


class EventStore(EventRows, SignUpRows, AttendanceRows, OverviewRows, MemberCalendarRows):
    """The events feature's database access; every method is one unit of work."""

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
                removed += rowcount(result)
            organised = (await session.scalars(select(Event).where(Event.organiser == user_id))).all()
            for row in organised:
                row.organiser = None
                removed += 1
        return removed, [int(i) for i in going]
