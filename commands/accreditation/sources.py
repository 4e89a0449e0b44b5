"""The seam through which accreditation reads meetings and their attendance.

Accreditation owns registration numbers, codes and certificates; meetings and who was
there are the events feature's. The events feature implements
:class:`AttendanceSource` on its feature class (as it implements the digest's and the
stats' sources), and accreditation finds it in the registry: neither imports the
other's tables. A web page for organisers can call the same functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bot.registry import Registry


@dataclass(frozen=True)
class Meeting:
    """What accreditation needs to know of one announced meeting."""

    id: int
    title: str
    starts_at: datetime
    ends_at: datetime
    accreditation: str | None
    points: float | None
    organiser: str | None
    place: str | None


@dataclass(frozen=True)
class Attended:
    user_id: str
    recorded_at: datetime


@runtime_checkable
class AttendanceSource(Protocol):
    async def meeting(self, event_id: int) -> Meeting | None:
        """An announced meeting, or None (unknown, a draft, cancelled)."""
        ...

    async def attendance(self, event_id: int) -> list[Attended]:
        """Who was there, in the order recorded."""
        ...

    async def mark_attended(self, event_id: int, user_id: str) -> bool:
        """Record that the member was there; False when that was known already."""
        ...

    async def unmark_attended(self, event_id: int, user_id: str) -> bool:
        """Take the mark back (an organiser's correction); False when there was none."""
        ...

    async def meetings_attended(self, user_id: str) -> list[Meeting]: ...

    async def meetings_ending(self, since: datetime, until: datetime) -> list[Meeting]:
        """Announced meetings ending in the period (for the jobs after them)."""
        ...

    async def may_organise(self, user_id: str) -> bool:
        """Whether the member may run meetings (an organiser or a moderator)."""
        ...


def attendance_source(registry: Registry) -> AttendanceSource | None:
    return next((f for f in registry.features if isinstance(f, AttendanceSource)), None)
