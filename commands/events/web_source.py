"""What Events gives the organisers' web page (``commands.organiser_web.sources``): the
events with their counts, an event's places and waitlist, and moving a member up."""

from __future__ import annotations

from datetime import datetime

from bot.errors import UserError
from bot.ids import UserId
from commands.events.base import EventsBase
from commands.events.store import GOING, EventCounts
from commands.organiser_web.sources import EventSignUps, EventSummary, SignUp


def _summary(row: EventCounts) -> EventSummary:
    return EventSummary(
        id=row.id,
        title=row.title,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        place=row.place,
        capacity=row.capacity,
        going=row.going,
        waiting=row.waiting,
        attended=row.attended,
    )


class OrganiserWebSource(EventsBase):
    """Implements :class:`commands.organiser_web.sources.SignUpSource`."""

    async def event_summaries(self, since: datetime, until: datetime) -> list[EventSummary]:
        return [_summary(row) for row in await self.store.counted(since, until)]

    async def event_sign_ups(self, event_id: int) -> EventSignUps | None:
        found = await self.store.counted_with_places(event_id)
        if found is None:
            return None
        counts, places = found
        going = tuple(SignUp(u, at) for u, status, at in places if status == GOING)
        waiting = tuple(SignUp(u, at) for u, status, at in places if status != GOING)
        return EventSignUps(_summary(counts), going, waiting)

    async def move_up(self, event_id: int, user_id: str) -> bool:
        try:
            return await self.signups.move_up(UserId(user_id), event_id)
        except UserError:
            # Started or cancelled meanwhile: nobody moves.
            return False
