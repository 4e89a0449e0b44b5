"""A candidate's answer to an offer: yes makes the pair, no moves the request on."""

from __future__ import annotations

from bot.context import Context
from bot.errors import UserError
from bot.registry import command
from commands.buddy.base import BuddyCommands
from commands.buddy.models import BuddyOffer
from commands.buddy.rounds import offer_job_id
from commands.buddy.statuses import PENDING, REFUSED


class AnswerCommands(BuddyCommands):
    async def _own_offer(self, ctx: Context, number: int) -> BuddyOffer:
        """The sender's offer for request ``number`` (the number both sides see). An ask
        sent before requests and offers shared a number named the offer: still taken
        while it is pending."""
        offer = await self.store.offer_to(ctx.sender, number)
        if offer is None:
            legacy = await self.store.offer(number)
            if legacy is not None and legacy.candidate_id == ctx.sender and legacy.status == PENDING:
                offer = legacy
        if offer is None:
            raise UserError("buddy.error.offer_not_found", number=number)
        return offer

    @command("buddy accepteer", aliases=["buddy ja", "buddy akkoord"], english="buddy accept")
    async def accept(self, ctx: Context, number: int) -> None:
        """Say yes to a buddy request you were asked for."""
        offer = await self._own_offer(ctx, number)
        pair_id = await self.store.accept_offer(offer.id, ctx.sender)
        if pair_id is None:
            raise UserError("buddy.error.offer_closed", number=number)
        await self.services.scheduler.cancel(offer_job_id(offer.id))
        pair = await self.rooms.complete(pair_id)
        room = pair.room_id if pair and pair.room_id else ""
        await ctx.reply(
            "buddy.accept.done",
            partner=self.text.mention(ctx.language, pair.member_a if pair and pair.member_a else ""),
            room=self.text.room_link(room),
        )

    @command("buddy weiger", aliases=["buddy nee", "buddy afwijzen"], english="buddy decline")
    async def decline(self, ctx: Context, number: int) -> None:
        """Say no to a buddy request; the requester is not told who declined."""
        offer = await self._own_offer(ctx, number)
        request_id = await self.store.close_offer(offer.id, REFUSED, candidate=ctx.sender)
        if request_id is None:
            raise UserError("buddy.error.offer_closed", number=number)
        await self.services.scheduler.cancel(offer_job_id(offer.id))
        await ctx.reply("buddy.decline.done")
        await self.rounds.move_on(request_id, offer.id)
