"""After the event: organisers record who was there; members see the events they
attended and the accreditation points those carried."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.context import Context
from bot.converters import parse_user_id
from bot.errors import UserError
from bot.formatting import Markup
from bot.i18n import format_date
from bot.registry import check, command
from commands.events.base import EventsBase, organiser_only


class AttendanceCommands(EventsBase):
    @command(
        "event aanwezig",
        aliases=["event attended", "event attendance", "event presentie"],
        english="event attended",
    )
    @check(organiser_only)
    async def attended(self, ctx: Context, event_id: int, *, members: str) -> None:
        """Record who was there (for the accreditation list and the evaluation)."""
        event = await self._event(event_id)
        users: list[str] = []
        bad: list[str] = []
        for word in members.replace(",", " ").split():
            user = parse_user_id(word, self.services.transport.server_name)
            (users if user else bad).append(user or word)
        if bad:
            raise UserError("events.error.bad_members", names=", ".join(bad[:5]))
        if not users:
            raise UserError("events.error.no_members")
        added = await self.store.record_attendance(event.id, users)
        total = len(await self.store.attendees(event.id))
        await ctx.reply("events.attendance_saved", id=event.id, added=added, total=total)

    @command(
        "mijn-accreditatie",
        aliases=["mijn accreditatie", "my-accreditation", "accreditatie"],
        english="my-accreditation",
    )
    async def my_accreditation(self, ctx: Context) -> None:
        """The events you attended and the accreditation points they carried."""
        events = await self.store.attended(ctx.sender)
        if not events:
            await ctx.reply("events.accreditation.none")
            return
        zone = ZoneInfo(self.timezone)
        lines = [
            ctx.fragment(
                "events.accreditation.line",
                day=format_date(e.starts_at.astimezone(zone).date(), ctx.language, "d MMM y"),
                title=e.title,
                accreditation=e.accreditation or ctx.text("events.accreditation.no_points"),
            )
            for e in events
        ]
        total = sum(e.points or 0 for e in events)
        await ctx.reply(
            "events.accreditation.report", lines=Markup.join(lines), total=f"{total:g}", count=len(events)
        )
