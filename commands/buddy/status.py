"""Overviews: a member's own ``!buddy status``, and the buddy parts of the digest and
the community statistics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.context import Context
from bot.formatting import Markup
from bot.i18n import format_date
from bot.registry import command
from commands.buddy.base import BuddyCommands
from commands.buddy.models import BuddyOffer
from commands.buddy.statuses import ACTIVE, EXHAUSTED, SEARCHING
from commands.digest.sources import DigestItem, DigestRequest, DigestSection
from commands.stats.sources import StatCount


class StatusCommands(BuddyCommands):
    @command("buddy status", aliases=["buddy overzicht"], english="buddy status")
    async def status(self, ctx: Context) -> None:
        """Your availability, your requests and your buddy pairs."""
        lines = [
            *await self._availability_lines(ctx),
            *await self._request_lines(ctx),
            *await self._pair_lines(ctx),
        ]
        await ctx.reply("buddy.status.report", lines=Markup.join(lines))

    async def _availability_lines(self, ctx: Context) -> list[Markup]:
        state = await self.store.availability(ctx.sender)
        if state is None or not state.available:
            return [ctx.fragment("buddy.status.not_available")]
        lines = [ctx.fragment("buddy.status.available", max=state.max_pairs)]
        if state.paused_until and state.paused_until > self.state.today():
            lines.append(
                ctx.fragment("buddy.status.paused", date=format_date(state.paused_until, ctx.language))
            )
        return lines

    async def _request_lines(self, ctx: Context) -> list[Markup]:
        return [
            ctx.fragment(
                "buddy.status.request",
                number=request.id,
                state=ctx.text(f"buddy.status.request_{request.status}"),
                asked=await self.store.offer_count(request.id),
            )
            for request in await self.store.requests_of(ctx.sender)
            if request.status in (SEARCHING, EXHAUSTED)
        ]

    async def _pair_lines(self, ctx: Context) -> list[Markup]:
        lines = []
        for pair in await self.store.pairs_of(ctx.sender):
            other = pair.member_b if pair.member_a == ctx.sender else pair.member_a
            lines.append(
                ctx.fragment(
                    "buddy.status.pair_active" if pair.status == ACTIVE else "buddy.status.pair_ended",
                    number=pair.id,
                    partner=self.text.mention(ctx.language, other)
                    if other
                    else ctx.fragment("buddy.status.former"),
                    since=format_date(pair.started_at.date(), ctx.language),
                    room=self.text.room_link(pair.room_id or ""),
                )
            )
        return lines

    async def digest_sections(self, requests: Sequence[DigestRequest]) -> Mapping[str, DigestSection]:
        """Buddy requests offered to the member that still wait for their answer."""
        waiting: dict[str, list[BuddyOffer]] = {}
        for offer in await self.store.pending_offers():
            if offer.candidate_id:
                waiting.setdefault(offer.candidate_id, []).append(offer)
        catalogue = self.services.catalogue
        sections: dict[str, DigestSection] = {}
        for request in requests:
            offers = waiting.get(request.user_id)
            if not offers:
                continue
            items = tuple(
                DigestItem(catalogue.fragment(request.language, "buddy.digest.line", number=o.request_id))
                for o in sorted(offers, key=lambda o: o.id)
            )
            sections[request.user_id] = DigestSection(
                10, catalogue.fragment(request.language, "buddy.digest.title"), items
            )
        return sections

    async def stats_counts(self, since: datetime, until: datetime) -> list[StatCount]:
        """Buddy requests, matches and check-in outcomes in the period."""
        return await self.store.stats(since, until)
