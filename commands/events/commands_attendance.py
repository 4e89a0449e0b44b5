"""After the event: organisers record who was there, and correct it. (Members check in
themselves with a code, and see what they attended, in the accreditation feature.)"""

from __future__ import annotations

from bot.context import Context
from bot.converters import parse_user_id
from bot.errors import UserError
from bot.registry import check, command
from commands.events.base import EventsBase, organiser_only


class AttendanceCommands(EventsBase):
    @command("event aanwezig", aliases=["event attended", "event attendance"], english="event attended")
    @check(organiser_only)
    async def attended(self, ctx: Context, event_id: int, *, members: str) -> None:
        """Record who was there (for the accreditation list and the evaluation)."""
        event = await self._event(event_id)
        users = self._members(members)
        added = await self.store.record_attendance(event.id, users)
        total = len(await self.store.attendees(event.id))
        await ctx.reply("events.attendance_saved", id=event.id, added=added, total=total)

    @command("event afwezig", aliases=["event absent", "event niet aanwezig"], english="event absent")
    @check(organiser_only)
    async def absent(self, ctx: Context, event_id: int, *, members: str) -> None:
        """Correct the attendance: these members were not there after all."""
        event = await self._event(event_id)
        removed = await self.store.remove_attendance(event.id, self._members(members))
        total = len(await self.store.attendees(event.id))
        await ctx.reply("events.attendance_removed", id=event.id, removed=removed, total=total)

    def _members(self, members: str) -> list[str]:
        users: list[str] = []
        bad: list[str] = []
        for word in members.replace(",", " ").split():
            user = parse_user_id(word, self.services.transport.server_name)
            (users if user else bad).append(user or word)
        if bad:
            raise UserError("events.error.bad_members", names=", ".join(bad[:5]))
        if not users:
            raise UserError("events.error.no_members")
        return users
