"""Plain, immutable views of the feature's rows, safe to keep after a session closes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class EventRecord:
    id: int
    uid: str
    series_id: int | None
    series_part: int | None
    series_size: int | None
    title: str
    starts_at: datetime
    ends_at: datetime
    place: str | None
    link: str | None
    form: str
    theme: str | None
    programme: str | None
    accreditation: str | None
    points: float | None
    lunch: bool | None
    capacity: int | None
    audience: tuple[str, ...]
    status: str
    organiser: str | None
    sequence: int
    card_room_id: str | None
    card_event_id: str | None
    updated_at: datetime

    @property
    def announced(self) -> bool:
        return self.status == "announced"


@dataclass(frozen=True)
class RsvpRecord:
    id: int
    event_id: int
    user_id: str
    status: str
    position: int


@dataclass(frozen=True)
class RsvpOutcome:
    """What a sign-up or withdrawal did: the member's status now (None: no answer left),
    their place on the waitlist, whether anything changed, and who moved up."""

    status: str | None
    previous: str | None
    waiting_rank: int | None = None
    changed: bool = True
    promoted: tuple[RsvpRecord, ...] = ()


@dataclass(frozen=True)
class EvaluationRecord:
    event_id: int
    profession: str | None
    worked: str | None
    not_worked: str | None
    tips: str | None
    rating: int | None = None
