"""Cases members bring in themselves: the conversation that takes them in, and the
moderators' queue where they are approved (they join the rotation) or declined."""

from __future__ import annotations

import logging
from typing import Any

from bot.command_checks import moderator_only
from bot.context import Context
from bot.errors import UserError
from bot.formatting import Markup
from bot.ids import UserId
from bot.registry import check, command
from commands.casus.flow import FLOW_NAME, LANGUAGE, split_questions
from commands.casus.library import Case
from commands.casus.parts import CasusParts
from commands.casus.submission_rows import APPROVED, PENDING, REJECTED, SubmissionRecord
from commands.organiser_web.page_sources import WaitingCase

log = logging.getLogger(__name__)

QUEUE_TEXT_LIMIT = 600
"""A waiting case's text is cut here in the queue (the moderator reads the gist)."""
REASON_LIMIT = 500
"""The longest reason for declining that is kept and told to the member."""


class SubmissionCommands(CasusParts):
    @command("casus indienen", aliases=["casus inbrengen"], english="case submit")
    async def submit(self, ctx: Context) -> None:
        """Bring in a case of your own: a few questions in a private chat."""
        if ctx.is_direct:
            dm = ctx.room_id
        else:
            dm = await self.services.members.direct_room(ctx.sender)
            await ctx.reply("casus.submit.continue_in_dm")
        await self.services.conversations.start(ctx, FLOW_NAME, dm, {LANGUAGE: ctx.language})

    async def finish_submission(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        """The end of the conversation: the case waits for a moderator."""
        if not completed:
            await ctx.reply("casus.submit.stopped")
            return
        if answers.get("send") == "no":
            await ctx.reply("casus.submit.not_sent")
            return
        record = await self.store.add_submission(
            ctx.sender,
            str(answers["theme"]),
            str(answers["title"]),
            str(answers["text"]),
            split_questions(str(answers.get("questions") or "")),
            answers.get("anonymous") != "no",
            ctx.language,
        )
        log.info("casus: submission %d waits for a moderator", record.id)
        await ctx.reply("casus.submit.thanks", id=record.id)

    @command("casus wachtrij", aliases=["casus queue"], english="case queue")
    @check(moderator_only)
    async def queue(self, ctx: Context) -> None:
        """Cases members brought in that wait for a moderator."""
        pending = await self.store.submissions(PENDING)
        if not pending:
            await ctx.reply("casus.queue.empty")
            return
        rows = Markup.join([self._queue_row(ctx, s) for s in pending], "\n\n")
        # Waiting cases (and who brought them in) stay out of community rooms.
        if ctx.is_direct:
            await ctx.reply("casus.queue.report", count=len(pending), rows=rows)
            return
        await ctx.send_dm("casus.queue.report", count=len(pending), rows=rows)
        await ctx.reply("casus.queue.sent_to_dm", count=len(pending))

    def _queue_row(self, ctx: Context, submission: SubmissionRecord) -> Markup:
        text = submission.text
        if len(text) > QUEUE_TEXT_LIMIT:
            text = text[: QUEUE_TEXT_LIMIT - 1] + "…"
        return ctx.fragment(
            "casus.queue.row",
            id=submission.id,
            theme=self.text.theme_label(ctx.language, submission.theme),
            title=submission.title,
            member=self.text.mention(ctx.language, submission.user_id or "?"),
            anonymous=ctx.text("casus.queue.anonymous" if submission.anonymous else "casus.queue.named"),
            text=text,
        )

    @command("casus goedkeuren", aliases=["casus approve"], english="case approve")
    @check(moderator_only)
    async def approve(self, ctx: Context, submission_id: int) -> None:
        """Approve a brought-in case: it joins its theme's rotation (moderators)."""
        decided = await self.approve_submission(submission_id)
        if decided is None:
            raise UserError("casus.error.no_pending", id=submission_id)
        record, case = decided
        await ctx.reply("casus.queue.approved", id=record.id, case=case.id)

    @command("casus afwijzen", aliases=["casus reject"], english="case reject")
    @check(moderator_only)
    async def reject(self, ctx: Context, submission_id: int, *, reason: str) -> None:
        """Decline a brought-in case, with a reason for the member (moderators)."""
        record = await self.reject_submission(submission_id, reason)
        if record is None:
            raise UserError("casus.error.no_pending", id=submission_id)
        await ctx.reply("casus.queue.rejected", id=record.id)

    # The one path of a moderator's decision, from the chat and from the web page alike.

    async def approve_submission(self, submission_id: int) -> tuple[SubmissionRecord, Case] | None:
        """The case joins its theme's rotation and the member hears it; None when it
        waits no longer (decided already, or unknown)."""
        record = await self.store.decide(submission_id, APPROVED, None)
        if record is None:
            return None
        case = self.state.admit(record)
        await self._tell_submitter(record, "casus.submit.approved")
        return record, case

    async def reject_submission(self, submission_id: int, reason: str) -> SubmissionRecord | None:
        """Declined; the member hears it with the reason. None when it waits no longer."""
        record = await self.store.decide(submission_id, REJECTED, reason.strip()[:REASON_LIMIT])
        if record is not None:
            await self._tell_submitter(record, "casus.submit.rejected")
        return record

    # -- the organisers' web page (commands.organiser_web.page_sources.CasusQueueSource) --

    async def waiting_cases(self, language: str) -> list[WaitingCase]:
        return [
            WaitingCase(
                s.id,
                self.text.theme_label(language, s.theme),
                s.title,
                s.text,
                s.questions,
                s.user_id,
                s.anonymous,
            )
            for s in await self.store.submissions(PENDING)
        ]

    async def approve_case(self, submission_id: int) -> bool:
        return await self.approve_submission(submission_id) is not None

    async def decline_case(self, submission_id: int, reason: str) -> bool:
        return await self.reject_submission(submission_id, reason) is not None

    async def _tell_submitter(self, record: SubmissionRecord, key: str) -> None:
        """The member hears a moderator's decision (through the outbox: not their command)."""
        if not record.user_id:
            return
        await self.services.members.tell(
            UserId(record.user_id),
            key,
            txn_id=f"casus.sub.{record.id}.{record.status}",
            title=record.title,
            theme=lambda language: self.text.theme_label(language, record.theme),
            reason=record.reason or "",
        )
