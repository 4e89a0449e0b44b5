"""Being a candidate: availability, a pause, and whom you never want to be matched with."""

from __future__ import annotations

from bot.command_checks import dm_only
from bot.context import Context
from bot.converters import Options, parse_date
from bot.errors import UserError
from bot.i18n import format_date
from bot.ids import UserId
from bot.registry import check, command
from commands.buddy.base import BuddyCommands
from commands.buddy.words import PAUSE_UNTIL, is_pause_off, max_options


class AvailabilityCommands(BuddyCommands):
    @command("buddy", english="buddy")
    async def buddy(self, ctx: Context) -> None:
        """What buddies are and how to start."""
        await ctx.reply("buddy.intro")

    @command("buddy beschikbaar", aliases=["buddy beschikbaarheid"], english="buddy available")
    async def available(self, ctx: Context, answer: bool, options: Options) -> None:
        """Say whether you are open to becoming someone's buddy, and for how many pairs."""
        if await self.profiles.get(ctx.sender) is None:
            raise UserError("buddy.error.no_profile")
        max_pairs = self._max_pairs(options)
        state = await self.store.set_availability(
            ctx.sender, available=answer, max_pairs=max_pairs, default_max=self.settings.default_max_pairs
        )
        if answer:
            await ctx.reply("buddy.available.on", max=state.max_pairs)
            await self.rounds.retry_exhausted(ctx.sender)
        else:
            await ctx.reply("buddy.available.off")

    def _max_pairs(self, options: Options) -> int | None:
        """``max=2``: how many pairs at a time, within the configured limit."""
        max_pairs: int | None = None
        limit = self.settings.max_pairs_limit
        for name, value in options.items():
            if name not in max_options(self.services.catalogue):
                raise UserError("buddy.error.unknown_option", name=name[:40], known="max")
            if not value.isdigit() or not 1 <= int(value) <= limit:
                raise UserError("buddy.error.max", value=value[:10], limit=limit)
            max_pairs = int(value)
        return max_pairs

    @command("buddy pauze", aliases=["buddy pauzeer"], english="buddy pause")
    async def pause(self, ctx: Context, *, until: str) -> None:
        """Pause being a buddy candidate until a date (``uit`` ends the pause)."""
        text = until.strip()
        lowered = text.lower()
        if is_pause_off(self.services.catalogue, lowered):
            await self.store.set_availability(
                ctx.sender, paused_until=None, default_max=self.settings.default_max_pairs
            )
            await ctx.reply("buddy.pause.cleared")
            return
        for word in PAUSE_UNTIL:
            if lowered.startswith(word):
                text = text[len(word) :]
                break
        today = self.state.today()
        day = parse_date(text, today)
        if day is None:
            raise UserError("buddy.error.pause_date", value=text[:40])
        if day <= today:
            raise UserError("buddy.error.pause_past", value=text[:40])
        await self.store.set_availability(
            ctx.sender, paused_until=day, default_max=self.settings.default_max_pairs
        )
        await ctx.reply("buddy.pause.set", date=format_date(day, ctx.language))

    @command("buddy blokkeer", english="buddy block")
    @check(dm_only)
    async def block(self, ctx: Context, member: UserId) -> None:
        """Keep someone out of your buddy matches; they are never told."""
        if member == ctx.sender:
            raise UserError("buddy.error.block_self")
        added = await self.store.block(ctx.sender, member)
        await ctx.reply("buddy.block.done" if added else "buddy.block.already", member=member)

    @command("buddy deblokkeer", english="buddy unblock")
    @check(dm_only)
    async def unblock(self, ctx: Context, member: UserId) -> None:
        """Take someone off your block list."""
        removed = await self.store.unblock(ctx.sender, member)
        await ctx.reply("buddy.unblock.done" if removed else "buddy.unblock.none", member=member)
