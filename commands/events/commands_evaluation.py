"""Evaluations: a member who attended fills one in (invited by a job, or with
``!evaluatie``); organisers read them grouped by profession."""

from __future__ import annotations

from typing import Any

from bot.command_checks import dm_only
from bot.context import Context
from bot.errors import UserError
from bot.formatting import Markup
from bot.registry import check, command
from commands.events.base import EventsBase, organiser_only
from commands.events.evaluation_pages import ANSWER_FIELDS, average_rating, group_by_profession
from commands.events.flow import EVALUATION_FLOW, EVENT_ID, KNOWN_PROFESSION
from commands.events.records import EvaluationRecord
from commands.events.store import GOING


class EvaluationCommands(EventsBase):
    @command("evaluatie", aliases=["evaluate", "evalueer"], english="evaluate")
    @check(dm_only)
    async def evaluate(self, ctx: Context, event_id: int) -> None:
        """Fill in (or redo) the evaluation of an event you attended."""
        event = await self._event(event_id)
        attendees = await self.store.attendees(event.id) or [
            r.user_id for r in await self.store.rsvps(event.id) if r.status == GOING
        ]
        if ctx.sender not in attendees:
            raise UserError("events.error.not_attended", id=event.id)
        profile = await self.profiles.get(ctx.sender)
        answers: dict[str, Any] = {EVENT_ID: event.id}
        if profile is not None:
            answers.update(profession=profile.profession, **{KNOWN_PROFESSION: True})
        await ctx.reply("events.evaluation.start", title=event.title)
        await self.services.conversations.start(ctx, EVALUATION_FLOW, ctx.room_id, answers)

    async def _finish_evaluation(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        if not answers.get("worked") and not completed:
            await ctx.reply("events.evaluation.stopped")
            return
        await self.store.save_evaluation(
            int(answers[EVENT_ID]),
            ctx.sender,
            answers.get("profession"),
            answers.get("worked"),
            answers.get("not_worked"),
            answers.get("tips"),
            rating=int(answers["rating"]) if answers.get("rating") else None,
        )
        await ctx.reply("events.evaluation.thanks")

    @command("event evaluatie", aliases=["event evaluation", "event evaluaties"], english="event evaluation")
    @check(organiser_only)
    async def evaluation_results(self, ctx: Context, event_id: int) -> None:
        """The evaluations of an event, grouped by profession."""
        event = await self._event(event_id)
        results = await self.store.evaluations(event.id)
        if not results:
            await ctx.reply("events.evaluation.none", id=event.id, title=event.title)
            return
        groups = group_by_profession(results, [p.key for p in self.services.professions.items])
        # Members' own words: they go to the organiser's DM only, never to the room the
        # command was typed in (other members and guests may read along there).
        await self.services.members.tell(
            ctx.sender,
            "events.evaluation.report",
            txn_id=ctx.next_txn_id(),
            answering=ctx,
            id=event.id,
            title=event.title,
            count=len(results),
            groups=lambda language: Markup.join(
                [self._evaluation_group(language, key, items) for key, items in groups], "\n\n"
            ),
        )
        if not ctx.is_direct:
            await ctx.reply("events.evaluation.sent_to_dm", id=event.id)

    def _evaluation_group(self, language: str, key: str, items: list[EvaluationRecord]) -> Markup:
        """One profession's evaluations: what worked, what did not, tips."""
        catalogue = self.services.catalogue
        found = self.services.professions.get(key)
        label = found.label(language) if found else catalogue.plain(language, "events.show.no_profile")
        parts = []
        mean, ratings = average_rating(items)
        if mean is not None:
            average = f"{mean:.1f}"
            parts.append(
                catalogue.fragment(
                    language,
                    "events.evaluation.rating",
                    average=average.replace(".", ",") if language == "nl" else average,
                    count=ratings,
                )
            )
        for field_name in ANSWER_FIELDS:
            answers = [getattr(r, field_name) for r in items if getattr(r, field_name)]
            if answers:
                listed = Markup.join(
                    [catalogue.fragment(language, "events.evaluation.answer", text=a) for a in answers]
                )
                parts.append(catalogue.fragment(language, f"events.evaluation.{field_name}", answers=listed))
        return catalogue.fragment(
            language, "events.evaluation.group", profession=label, count=len(items), parts=Markup.join(parts)
        )
