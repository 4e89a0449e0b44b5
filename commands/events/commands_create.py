"""Creating events: ``!event nieuw`` with options on one line, or a DM conversation;
a preview with planning advice to confirm, then the card in the events room."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, time
from typing import Any

from bot.context import Context
from bot.converters import Options
from bot.errors import UserError
from bot.formatting import Markup
from bot.registry import check, command
from commands.events.base import EventsBase, organiser_only
from commands.events.flow import CONFIRM_FLOW, CREATE_FLOW, EVENT_IDS, screen_draft
from commands.events.planning import (
    Advice,
    Busy,
    Draft,
    complete,
    parse_options,
    planning_advice,
    points_of,
    to_utc,
)
from commands.events.records import EventRecord
from commands.events.store import ANNOUNCED, DRAFT, NewEvent


def event_ids(events: Sequence[EventRecord]) -> str:
    return ", ".join(str(e.id) for e in events)


class CreationCommands(EventsBase):
    @command("event nieuw", aliases=["event new", "event aanmaken", "event create"], english="event new")
    @check(organiser_only)
    async def event_new(self, ctx: Context, options: Options) -> None:
        """Create an event: a DM conversation, or one line with options."""
        if self.services.rooms.room_id(self.settings.room) is None:
            raise UserError("events.error.no_room")
        if options:
            draft = parse_options(
                options.items(),
                today=self.services.clock.now().date(),
                professions=self.services.professions,
                themes=self._themes(),
            )
            await screen_draft(self.services.guard, draft)
            await self._create(ctx, draft, one_line=True)
            return
        dm = ctx.room_id if ctx.is_direct else await self.services.members.direct_room(ctx.sender)
        if not ctx.is_direct:
            await ctx.reply("events.continue_in_dm")
        await self.services.conversations.start(ctx, CREATE_FLOW, dm, {})

    async def _create(self, ctx: Context, draft: Draft, one_line: bool) -> None:
        """Store the draft; announce it at once when typed on one line and nothing in
        the planning advice calls for a second look, else show a preview to confirm."""
        draft = complete(draft)
        if to_utc(draft.dates[0], draft.start or time(0), self.timezone) <= self.services.clock.now():
            raise UserError("events.error.in_past")
        events = await self.store.create(self._new_events(draft), ctx.sender, status=DRAFT)
        advice = await self._advice(events)
        if one_line and not advice:
            announced = await self._announce(events)
            await ctx.reply("events.created", ids=event_ids(announced), room=self._room_alias())
            return
        dm = ctx.room_id if ctx.is_direct else await self.services.members.direct_room(ctx.sender)
        if not ctx.is_direct:
            await ctx.reply("events.advice.in_dm")
        await self._send_preview(ctx, events, advice)
        await self.services.conversations.start(ctx, CONFIRM_FLOW, dm, {EVENT_IDS: [e.id for e in events]})

    async def _send_preview(self, ctx: Context, events: Sequence[EventRecord], advice: list[Advice]) -> None:
        def cards(language: str) -> Markup:
            return Markup.join([self.rendering.card(e, language, {}) for e in events], "\n\n")

        await self.services.members.tell(
            ctx.sender,
            "events.preview",
            txn_id=ctx.next_txn_id(),
            answering=ctx,
            cards=cards,
            advice=self._advice_text(ctx, advice),
        )

    def _new_events(self, draft: Draft) -> list[NewEvent]:
        """One event per date; a series gets "(part/size)" after its title."""
        assert draft.start is not None and draft.end is not None and draft.title is not None
        size = len(draft.dates)
        return [
            NewEvent(
                title=(f"{draft.title} ({part}/{size})" if size > 1 else draft.title)[:200],
                starts_at=to_utc(day, draft.start, self.timezone),
                ends_at=to_utc(day, draft.end, self.timezone),
                form=draft.form or "fysiek",
                place=draft.place,
                link=draft.link,
                theme=draft.theme,
                programme=draft.programme,
                accreditation=draft.accreditation,
                points=points_of(draft.accreditation),
                lunch=draft.lunch,
                capacity=draft.capacity,
                audience=draft.audience or (),
            )
            for part, day in enumerate(draft.dates, start=1)
        ]

    async def _advice(self, events: Sequence[EventRecord]) -> list[Advice]:
        notes: list[Advice] = []
        own = [e.id for e in events]
        for event in events:
            others = [
                Busy(o.id, o.title, o.starts_at, o.ends_at)
                for o in await self.store.overlapping(event.starts_at, event.ends_at, exclude=own)
            ]
            for note in planning_advice(
                event.starts_at,
                event.ends_at,
                self.timezone,
                good_months=self.settings.good_months,
                max_hours=self.settings.max_hours,
                latest_start=self.settings.latest_start,
                others=others,
            ):
                if note not in notes:
                    notes.append(note)
        return notes

    def _advice_text(self, ctx: Context, advice: list[Advice]) -> Markup:
        if not advice:
            return ctx.fragment("events.advice.none")
        lines = [ctx.fragment("events.advice.line", note=ctx.fragment(a.key, **a.params)) for a in advice]
        return ctx.fragment("events.advice.intro", notes=Markup.join(lines))

    def _room_alias(self) -> str:
        return self.services.config.all_rooms().get(self.settings.room, self.settings.room)

    async def _announce(self, events: Sequence[EventRecord]) -> list[EventRecord]:
        announced = []
        for event in events:
            record = await self.store.set_status(event.id, ANNOUNCED)
            await self.cards.post(record)
            await self.jobs.schedule(record)
            announced.append(record)
        return announced

    # -- the conversations' endings ----------------------------------------------------

    async def _finish_create(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        if not completed:
            await ctx.reply("events.create_stopped")
            return
        start_text, end_text = str(answers["time"]).split("-")
        draft = Draft(
            title=answers["title"],
            dates=tuple(date.fromisoformat(d) for d in answers["dates"]),
            start=time.fromisoformat(start_text),
            end=time.fromisoformat(end_text),
            form=answers.get("form"),
            place=answers.get("place"),
            link=answers.get("link"),
            theme=answers.get("theme"),
            programme=answers.get("programme"),
            accreditation=answers.get("accreditation"),
            lunch=answers.get("lunch") == "yes",
            capacity=answers.get("capacity"),
            audience=tuple(answers.get("audience") or ()),
        )
        await self._create(ctx, draft, one_line=False)

    async def _finish_confirm(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        ids = [int(i) for i in answers.get(EVENT_IDS, [])]
        events = [e for e in [await self.store.get(i) for i in ids] if e is not None and e.status == DRAFT]
        if not completed or answers.get("announce") != "yes":
            await ctx.reply("events.not_announced", ids=event_ids(events))
            return
        announced = await self._announce(events)
        await ctx.reply("events.created", ids=event_ids(announced), room=self._room_alias())
