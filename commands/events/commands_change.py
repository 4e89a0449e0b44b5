"""Changing and calling off events: the card is replaced, the jobs follow the new times,
and everyone signed up is told."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from bot.context import Context
from bot.converters import Options
from bot.errors import UserError
from bot.registry import check, command
from commands.events.base import EventsBase, organiser_only
from commands.events.flow import screen_draft
from commands.events.planning import Draft, parse_options, points_of, to_utc
from commands.events.records import EventRecord
from commands.events.store import ANNOUNCED, CANCELLED

# Fields an edit may change as they are, when given and different.
PLAIN_FIELDS = ("title", "place", "link", "form", "theme", "programme", "lunch", "capacity", "audience")


def option_names(values: dict[str, Any]) -> set[str]:
    """The options as the organiser knows them (``time`` for the start and end)."""
    names = set(values) - {"points", "ends_at"}
    if "starts_at" in names:
        names.discard("starts_at")
        names.add("time")
    return names


class ChangeCommands(EventsBase):
    @command("event wijzig", aliases=["event edit", "event change", "event aanpassen"], english="event edit")
    @check(organiser_only)
    async def event_edit(self, ctx: Context, event_id: int, options: Options) -> None:
        """Change an event; the card is updated and everyone signed up is told."""
        event = await self._event(event_id)
        if event.status == CANCELLED:
            raise UserError("events.error.cancelled", id=event.id, title=event.title)
        if not options:
            raise UserError("events.error.nothing_to_change", id=event.id)
        draft = parse_options(
            options.items(),
            today=self.services.clock.now().date(),
            professions=self.services.professions,
            themes=self._themes(),
        )
        await screen_draft(self.services.guard, draft)
        values = self._changes(event, draft)
        if not values:
            raise UserError("events.error.nothing_to_change", id=event.id)
        record = await self.store.update(event.id, values)
        if record.starts_at != event.starts_at or record.ends_at != event.ends_at:
            await self.jobs.schedule(record)
        promoted = await self.store.fill_places(record.id) if "capacity" in values else ()
        await self.cards.post(await self._event(record.id))
        changed = ", ".join(ctx.text(f"events.option.{name}") for name in sorted(option_names(values)))
        notified = await self.notify.signed_up(record, "events.changed", changed=changed)
        await self.notify.promoted(record, promoted)
        await ctx.reply("events.edited", id=record.id, changed=changed, count=notified)

    def _changes(self, event: EventRecord, draft: Draft) -> dict[str, Any]:
        """The columns to update: what the draft gives that differs from the event."""
        values = self._new_times(event, draft)
        for name in PLAIN_FIELDS:
            if name in draft.given and getattr(draft, name) != getattr(event, name):
                values[name] = getattr(draft, name)
        if "accreditation" in draft.given and draft.accreditation != event.accreditation:
            values["accreditation"] = draft.accreditation
            values["points"] = points_of(draft.accreditation)
        return values

    def _new_times(self, event: EventRecord, draft: Draft) -> dict[str, Any]:
        """``starts_at`` and ``ends_at`` when the date or time changes (checked: in
        the future, end after start); empty when they stay."""
        zone = ZoneInfo(self.timezone)
        if draft.dates and len(draft.dates) > 1:
            raise UserError("events.error.one_date")
        day = draft.dates[0] if draft.dates else event.starts_at.astimezone(zone).date()
        start = draft.start or event.starts_at.astimezone(zone).time()
        end = draft.end or event.ends_at.astimezone(zone).time()
        starts_at, ends_at = to_utc(day, start, self.timezone), to_utc(day, end, self.timezone)
        if starts_at == event.starts_at and ends_at == event.ends_at:
            return {}
        if starts_at <= self.services.clock.now():
            raise UserError("events.error.in_past")
        if ends_at <= starts_at:
            raise UserError("events.error.time_order", value=f"{start:%H:%M}-{end:%H:%M}")
        return {"starts_at": starts_at, "ends_at": ends_at}

    @command("event annuleer", aliases=["event cancel", "event afgelast"], english="event cancel")
    @check(organiser_only)
    async def event_cancel(self, ctx: Context, event_id: int) -> None:
        """Call an event off: the card says so, reminders stop, everyone signed up is told."""
        event = await self._event(event_id, drafts=True)
        if event.status == CANCELLED:
            raise UserError("events.error.cancelled", id=event.id, title=event.title)
        was_announced = event.status == ANNOUNCED
        record = await self.store.set_status(event.id, CANCELLED)
        await self.jobs.unschedule(record)
        notified = 0
        if was_announced:
            await self.cards.post(record)
            notified = await self.notify.signed_up(record, "events.cancelled_notice", changed="")
        await ctx.reply("events.cancelled", id=record.id, title=record.title, count=notified)
