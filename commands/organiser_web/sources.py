"""The seam through which the organisers' web page reads and changes sign-ups.

Sign-ups and the waitlist are the events feature's: it implements
:class:`SignUpSource` on its feature class (as it implements accreditation's
:class:`~commands.accreditation.sources.AttendanceSource`), and the page finds it in the
registry. The page never imports the events tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bot.registry import Registry


@dataclass(frozen=True)
class EventSummary:
    """One announced event with its numbers, for the list of events."""

    id: int
    title: str
    starts_at: datetime
    ends_at: datetime
    place: str | None
    # None: no maximum.
    capacity: int | None
    going: int
    waiting: int
    attended: int


@dataclass(frozen=True)
class SignUp:
    user_id: str
    signed_up_at: datetime


@dataclass(frozen=True)
class EventSignUps:
    """Who holds a place and who waits (first in line first)."""

    event: EventSummary
    going: tuple[SignUp, ...]
    waiting: tuple[SignUp, ...]


@runtime_checkable
class SignUpSource(Protocol):
    async def event_summaries(self, since: datetime, until: datetime) -> list[EventSummary]:
        """Announced events ending in ``[since, until)``, soonest first, with their counts."""
        ...

    async def event_sign_ups(self, event_id: int) -> EventSignUps | None:
        """An announced event's places and waitlist, or None (unknown, a draft, cancelled)."""
        ...

    async def move_up(self, event_id: int, user_id: str) -> bool:
        """Give a member on the waitlist a place (the organiser's choice, also beyond the
        maximum); they hear it as when a place frees up. False: they were not waiting."""
        ...


def sign_up_source(registry: Registry) -> SignUpSource | None:
    return next((f for f in registry.features if isinstance(f, SignUpSource)), None)
