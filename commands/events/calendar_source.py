"""What Events gives the personal calendar feed (``commands.calendar_feed.sources``):
the events a member is going to or waiting for, read in one query."""

from __future__ import annotations

from commands.calendar_feed.sources import SignedUp
from commands.events.base import EventsBase
from commands.events.store.common import CANCELLED, _aware


class CalendarFeedSource(EventsBase):
    """Implements :class:`commands.calendar_feed.sources.SignupSource`."""

    async def signed_up(self, user_id: str) -> list[SignedUp]:
        return [
            SignedUp(
                uid=event.uid,
                title=event.title,
                starts_at=_aware(event.starts_at),
                ends_at=_aware(event.ends_at),
                place=event.place,
                link=event.link,
                cancelled=event.status == CANCELLED,
                sequence=event.sequence,
                updated_at=_aware(event.updated_at),
                signup=signup,
            )
            for event, signup in await self.store.member_calendar(user_id)
        ]
