"""What the events store's parts share: the status names, the row-to-record mapping and
the base holding the database, the clock and the calendar UID domain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.clock import Clock
from bot.storage import Database
from commands.events.models import Event, Rsvp
from commands.events.records import EventRecord, RsvpRecord

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


class StoreBase:
    """The events feature's database access; every method is one unit of work."""

    def __init__(self, db: Database, clock: Clock, uid_domain: str) -> None:
        self._db = db
        self._clock = clock
        self._uid_domain = uid_domain
