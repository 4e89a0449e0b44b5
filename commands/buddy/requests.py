"""Asking for a buddy: ``!buddy zoek`` with options or through the conversation, and
withdrawing an open request. The matching itself is in :mod:`commands.buddy.rounds`."""

from __future__ import annotations

from typing import Any

from bot.context import Context
from bot.converters import Options
from bot.errors import UserError
from bot.registry import command
from commands.buddy.base import BuddyCommands
from commands.buddy.flow import ANY, FLOW_NAME, OTHER_PROFESSION, TOPIC_LIMIT
from commands.buddy.rounds import NOBODY, offer_job_id
from commands.buddy.statuses import CANCELLED, WITHDRAWN
from commands.buddy.text import nothing
from commands.buddy.words import find_options
from commands.introductions.vocabulary import DAYS, EXPERIENCE, REGIONS


class RequestCommands(BuddyCommands):
    @command("buddy zoek", aliases=["buddy zoeken", "buddy aanvraag"], english="buddy find")
    async def find(self, ctx: Context, options: Options) -> None:
        """Ask for a buddy; without options I ask what you are looking for."""
        await self._may_ask(ctx)
        if not options:
            dm = ctx.room_id if ctx.is_direct else await self.services.members.direct_room(ctx.sender)
            if not ctx.is_direct:
                await ctx.reply("buddy.find.continue_in_dm")
            await self.services.conversations.start(ctx, FLOW_NAME, dm)
            return
        criteria, topic = self._criteria(ctx, options)
        # The topic is shown to the members offered as buddy: no personal data in it.
        await self.services.guard.check(topic)
        await self._create(ctx, criteria, topic)

    async def _may_ask(self, ctx: Context) -> None:
        """A profile, and no other open request (a replay of the same message may pass)."""
        if await self.profiles.get(ctx.sender) is None:
            raise UserError("buddy.error.no_profile")
        existing = await self.store.open_request(ctx.sender)
        if existing is not None and existing.source_event != ctx.message.event_id:
            raise UserError("buddy.error.already_searching", number=existing.id)

    def _criteria(self, ctx: Context, options: Options) -> tuple[dict[str, Any], str | None]:
        criteria: dict[str, Any] = {}
        topic: str | None = None
        parser = self.state.parser
        names = find_options(self.services.catalogue)
        for name, value in options.items():
            target = names.get(name)
            if target is None:
                raise UserError(
                    "buddy.error.unknown_option", name=name[:40], known=ctx.text("buddy.options.find")
                )
            if target == "professions":
                criteria[target] = parser.professions_list(value)
            elif target == "experience":
                criteria[target] = parser.many(EXPERIENCE, value)
            elif target == "regions":
                criteria[target] = parser.many(REGIONS, value)
            elif target == "days":
                criteria[target] = parser.many(DAYS, value)
            elif target == "themes":
                criteria[target] = parser.themes_list(value)
            elif target == "topic":
                topic = value.strip() or None
                if topic and len(topic) > TOPIC_LIMIT:
                    raise UserError("buddy.error.topic_too_long", limit=TOPIC_LIMIT, length=len(topic))
            else:
                flag = self.services.catalogue.yes_no(value)
                if flag is None:
                    raise UserError("buddy.error.yes_no", name=name[:40], value=value[:20])
                criteria[target] = flag
        return criteria, topic

    async def finish_flow(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        """The end of the ``!buddy zoek`` conversation: its answers become a request."""
        if not completed:
            await ctx.reply("buddy.find.stopped")
            return
        criteria: dict[str, Any] = {}
        if answers.get("kind") and answers["kind"] != ANY:
            criteria["experience"] = [answers["kind"]]
        profession = answers.get("profession")
        if profession == OTHER_PROFESSION:
            criteria["cross"] = True
        elif profession and profession != ANY:
            criteria["professions"] = [profession]
        await self._may_ask(ctx)
        await self._create(ctx, criteria, answers.get("topic"))

    async def _create(self, ctx: Context, criteria: dict[str, Any], topic: str | None) -> None:
        request_id, _ = await self.store.create_request(ctx.sender, criteria, topic, ctx.message.event_id)
        outcome = await self.rounds.advance(request_id, notify=False)
        if outcome == NOBODY:
            request = await self.store.request(request_id)
            hint = await self.rounds.hint(ctx.language, request) if request else nothing()
            await ctx.reply("buddy.find.nobody", hint=hint)
        else:
            await ctx.reply("buddy.find.searching", number=request_id, days=self.state.offer_days())

    @command("buddy annuleer", aliases=["buddy intrekken"], english="buddy cancel")
    async def cancel(self, ctx: Context) -> None:
        """Stop looking for a buddy (an open request is withdrawn)."""
        request = await self.store.open_request(ctx.sender)
        if request is None:
            raise UserError("buddy.error.not_searching")
        pending = await self.store.pending_offer(request.id)
        if pending is not None and await self.store.close_offer(pending.id, WITHDRAWN) is not None:
            await self.services.scheduler.cancel(offer_job_id(pending.id))
        await self.store.finish_request(request.id, CANCELLED)
        await ctx.reply("buddy.cancel.done", number=request.id)
