"""Looking at events: the list of what is coming, and one event's details with who is
coming per profession."""

from __future__ import annotations

from collections.abc import Sequence

from bot.context import Context
from bot.formatting import Markup
from bot.registry import command
from commands.events.base import EventsBase
from commands.events.records import EventRecord, RsvpRecord
from commands.events.store import GOING, MAYBE, NOT_GOING, WAITING


class ListingCommands(EventsBase):
    @command("bijeenkomsten", aliases=["events", "agenda", "evenementen"], english="events")
    async def list_events(self, ctx: Context) -> None:
        """Upcoming events, series together, with the places left."""
        events = await self.store.upcoming(self.services.clock.now())
        if not events:
            await ctx.reply("events.list.empty")
            return
        counts = await self.store.counts([e.id for e in events])
        blocks: list[Markup] = []
        done_series: set[int] = set()
        for event in events:
            if event.series_id is None:
                blocks.append(self._list_line(ctx, event, counts[event.id]))
            elif event.series_id not in done_series:
                done_series.add(event.series_id)
                parts = [e for e in events if e.series_id == event.series_id]
                blocks.append(self._series_block(ctx, event, parts, counts))
        await ctx.reply("events.list.report", lines=Markup.join(blocks))

    def _series_block(
        self, ctx: Context, first: EventRecord, parts: list[EventRecord], counts: dict[int, dict[str, int]]
    ) -> Markup:
        return ctx.fragment(
            "events.list.series",
            title=first.title.rsplit(" (", 1)[0],
            size=first.series_size or len(parts),
            lines=Markup.join([self._list_line(ctx, e, counts[e.id]) for e in parts]),
        )

    def _list_line(self, ctx: Context, event: EventRecord, counts: dict[str, int]) -> Markup:
        return ctx.fragment(
            "events.list.line",
            id=event.id,
            title=event.title,
            when=self.rendering.when(event, ctx.language),
            form=ctx.text(f"events.form.{event.form}"),
            places=self.rendering.places(event, ctx.language, counts),
        )

    @command("event", aliases=["bijeenkomst"], english="event")
    async def show(self, ctx: Context, event_id: int) -> None:
        """An event's details and who is coming, per profession."""
        event = await self._event(event_id)
        rsvps = await self.store.rsvps(event.id)
        counts = {s: sum(1 for r in rsvps if r.status == s) for s in (GOING, WAITING, MAYBE, NOT_GOING)}
        mine = next((r for r in rsvps if r.user_id == ctx.sender), None)
        own = (
            ctx.fragment(f"events.show.yours.{mine.status}")
            if mine
            else ctx.fragment("events.show.yours.none", id=event.id)
        )
        await ctx.reply(
            "events.show.report",
            card=self.rendering.card(event, ctx.language, counts),
            coming=await self._coming(ctx, event, [r for r in rsvps if r.status == GOING]),
            maybe=counts[MAYBE],
            waiting=counts[WAITING],
            own=own,
        )

    async def _coming(self, ctx: Context, event: EventRecord, going: Sequence[RsvpRecord]) -> Markup:
        """Counts per profession, names of those who chose to be listed, and the
        professions still missing."""
        if not going:
            return ctx.fragment("events.show.nobody_yet")
        by_profession = await self._by_profession(going)
        lines = []
        for profession in self.services.professions.items:
            members = by_profession.get(profession.key)
            if members:
                label = f"{profession.badge} {profession.label(ctx.language)}"
                lines.append(self._coming_line(ctx, label, members))
        if by_profession.get(""):
            lines.append(self._coming_line(ctx, ctx.text("events.show.no_profile"), by_profession[""]))
        wanted = event.audience or tuple(p.key for p in self.services.professions.items if p.key != "anders")
        missing = [self.rendering.profession_label(k, ctx.language) for k in wanted if k not in by_profession]
        missing_text = (
            ctx.fragment("events.show.missing", professions=", ".join(missing))
            if missing
            else ctx.fragment("events.show.all_present")
        )
        return ctx.fragment(
            "events.show.coming", total=len(going), lines=Markup.join(lines), missing=missing_text
        )

    async def _by_profession(self, going: Sequence[RsvpRecord]) -> dict[str, list[str]]:
        """Profession key ("" without a profile) -> one entry per member going: their id
        when they chose to be listed, else ""."""
        by_profession: dict[str, list[str]] = {}
        for rsvp in going:
            profile = await self.profiles.get(rsvp.user_id)
            key = profile.profession if profile is not None else ""
            listed = profile is not None and profile.listed
            by_profession.setdefault(key, []).append(rsvp.user_id if listed else "")
        return by_profession

    def _coming_line(self, ctx: Context, label: str, members: list[str]) -> Markup:
        names = [m for m in members if m]
        return ctx.fragment(
            "events.show.coming_line",
            label=label,
            count=len(members),
            names=ctx.fragment("events.show.names", names=", ".join(names)) if names else Markup("", ""),
        )
