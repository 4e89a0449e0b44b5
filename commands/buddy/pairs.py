"""A running pair: the members' check-in answers and ending the pair."""

from __future__ import annotations

from bot.context import Context
from bot.errors import UserError
from bot.ids import UserId
from bot.registry import command
from commands.buddy.base import BuddyCommands
from commands.buddy.models import BuddyPair
from commands.buddy.words import checkin_answer


class PairCommands(BuddyCommands):
    async def _own_pair(self, ctx: Context, number: int | None) -> BuddyPair:
        """The sender's running pair: the one with ``number``, or their only one."""
        pairs = await self.store.pairs_of(ctx.sender, active_only=True)
        if number is not None:
            for pair in pairs:
                if pair.id == number:
                    return pair
            raise UserError("buddy.error.pair_not_found", number=number)
        if not pairs:
            raise UserError("buddy.error.no_active_pair")
        if len(pairs) > 1:
            raise UserError("buddy.error.which_pair", numbers=", ".join(str(p.id) for p in pairs))
        return pairs[0]

    @command("buddy checkin", aliases=["buddy check-in", "buddy gesproken"], english="buddy checkin")
    async def checkin(self, ctx: Context, *, answer: str) -> None:
        """Answer "have you met yet?": ja, nog niet or stop (and the pair's number if you have several)."""
        words = answer.lower().split()
        number: int | None = None
        if words and words[-1].lstrip("#").isdigit():
            number = int(words.pop().lstrip("#"))
        said = checkin_answer(self.services.catalogue, " ".join(words))
        if said is None:
            raise UserError("buddy.error.checkin_answer", value=answer[:40])
        pair = await self._own_pair(ctx, number)
        await self.store.record_checkin(pair.id, self.checkins.round_of(pair), ctx.sender, said)
        if said == "stop":
            await self._end(ctx, pair)
            return
        await ctx.reply(
            "buddy.checkin.yes" if said == "yes" else "buddy.checkin.not_yet",
            room=self.text.room_link(pair.room_id or ""),
        )

    @command("buddy stop", aliases=["buddy beëindig", "buddy afronden"], english="buddy stop")
    async def stop_pair(self, ctx: Context, number: int | None = None) -> None:
        """End a buddy pair, kindly for both."""
        await self._end(ctx, await self._own_pair(ctx, number))

    async def _end(self, ctx: Context, pair: BuddyPair) -> None:
        if not await self.store.end_pair(pair.id):
            raise UserError("buddy.error.pair_not_found", number=pair.id)
        await self.checkins.cancel(pair.id)
        other = pair.member_b if pair.member_a == ctx.sender else pair.member_a
        if other:
            await self.services.members.tell(
                UserId(other), "buddy.stop.partner", txn_id=f"buddy.ended.{pair.id}", number=pair.id
            )
        await ctx.reply("buddy.stop.done", number=pair.id)
