"""What Events gives the accreditation feature (``commands.accreditation.sources``):
announced meetings, who was there, and marking a member present after a check-in."""

from __future__ import annotations

from datetime import datetime

from bot.ids import UserId
from commands.accreditation.sources import Attended, Meeting
from commands.events.base import EventsBase
from commands.events.records import EventRecord
from commands.events.store import ANNOUNCED


def _meeting(event: EventRecord) -> Meeting:
    return Meeting(
        id=event.id,
        title=event.title,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        accreditation=event.accreditation,
        points=event.points,
        organiser=event.organiser,
        place=event.place,
    )


class AccreditationSource(EventsBase):
    """Implements :class:`commands.accreditation.sources.AttendanceSource`."""

    async def meeting(self, event_id: int) -> Meeting | None:
        event = await self.store.get(event_id)
        return _meeting(event) if event is not None and event.status == ANNOUNCED else None

    async def attendance(self, event_id: int) -> list[Attended]:
        return [Attended(user, at) for user, at in await self.store.attendance_times(event_id)]

    async def mark_attended(self, event_id: int, user_id: str) -> bool:
        return await self.store.record_attendance(event_id, [user_id]) > 0

    async def unmark_attended(self, event_id: int, user_id: str) -> bool:
        return await self.store.remove_attendance(event_id, [user_id]) > 0

    async def meetings_attended(self, user_id: str) -> list[Meeting]:
        return [_meeting(e) for e in await self.store.attended(user_id) if e.status == ANNOUNCED]

    async def meetings_ending(self, since: datetime, until: datetime) -> list[Meeting]:
        return [_meeting(e) for e in await self.store.ending(since, until)]

    async def may_organise(self, user_id: str) -> bool:
        if user_id in self.settings.organisers:
            return True
        return await self.services.roles.is_moderator(UserId(user_id))
