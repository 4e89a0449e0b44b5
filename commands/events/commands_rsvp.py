"""A member's own answers: signing up (or the waitlist), maybe, cancelling, and whether
they want reminders."""

from __future__ import annotations

from bot.context import Context
from bot.errors import UserError
from bot.registry import command
from commands.events.base import EventsBase
from commands.events.store import GOING, MAYBE, NOT_GOING


class RsvpCommands(EventsBase):
    @command("aanmelden", aliases=["inschrijven", "signup", "sign up"], english="rsvp")
    async def rsvp(self, ctx: Context, event_id: int) -> None:
        """Sign up for an event (or join its waitlist when it is full)."""
        await self.signups.answer(ctx.sender, event_id, GOING, "command", ctx, ctx.next_txn_id())

    @command("aanmelden misschien", aliases=["misschien aanmelden"], english="rsvp maybe")
    async def maybe(self, ctx: Context, event_id: int) -> None:
        """Say you might come; you get no place and no reminders."""
        await self.signups.answer(ctx.sender, event_id, MAYBE, "command", ctx, ctx.next_txn_id())

    @command("afmelden", aliases=["uitschrijven"], english="cancel")
    async def cancel(self, ctx: Context, event_id: int) -> None:
        """Cancel your sign-up; your place goes to the first on the waitlist."""
        current = await self.store.answer_of(event_id, ctx.sender)
        if current is None or current.status == NOT_GOING:
            await self._event(event_id)
            raise UserError("events.error.not_signed_up", id=event_id)
        await self.signups.answer(ctx.sender, event_id, NOT_GOING, "command", ctx, ctx.next_txn_id())

    @command("herinneringen", aliases=["reminders", "herinnering"], english="reminders")
    async def reminders(self, ctx: Context, setting: str | None = None) -> None:
        """Turn event reminders on or off (aan/uit), or see how they are set."""
        if setting is None:
            on = await self.store.reminders_on(ctx.sender)
            await ctx.reply(
                "events.reminders.status_on" if on else "events.reminders.status_off",
                offsets=self._offsets_text(ctx),
            )
            return
        on_value = ctx.services.catalogue.switch(setting)
        if on_value is None:
            raise UserError("events.error.on_off", value=setting[:20])
        await self.store.set_reminders(ctx.sender, on_value)
        await ctx.reply(
            "events.reminders.on" if on_value else "events.reminders.off", offsets=self._offsets_text(ctx)
        )

    def _offsets_text(self, ctx: Context) -> str:
        """The configured reminder moments, in words ("7 dagen, 1 uur")."""
        parts = []
        for offset in self.settings.reminders:
            number, unit = int(offset.label[:-1]), offset.label[-1]
            parts.append(ctx.text(f"events.offset.{unit}", count=number))
        return ", ".join(parts)
