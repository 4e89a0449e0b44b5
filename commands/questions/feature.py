"""Questions to a profession: the low-threshold path to quick, targeted sparring.

``!vraag <beroep> <vraag>`` posts the question in the questions room as the root of a
thread, tagged with the profession, on the member's behalf (their text escaped, their
name linked without a ping). Up to ``invite_count`` listed members of that profession
who accept questions are invited through the nudge service, fairly rotated
(:mod:`commands.questions.rotation`). A reply in the thread (or to the question) by
someone else sends the asker a DM. Unanswered after ``escalate_after``: one more round
of invitations to other members and a friendly note to the asker.

Every step is idempotent, so a replayed command or a re-run job sends nothing twice:
the question row is claimed by the command's event id, the post has the command's
transaction id, invitations are rows plus nudges with dedupe keys, and the escalation
job is claimed through the question's ``rounds`` counter.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.context import Context
from bot.errors import UserError
from bot.formatting import Markup
from bot.ids import EventId, RoomId, UserId
from bot.registry import Feature, command, listener
from bot.scheduler.policy import MissedPolicy
from bot.services import Services
from bot.transport import IncomingMessage, OutgoingMessage
from commands.digest.sources import DigestItem, DigestRequest, DigestSection
from commands.introductions.store import ProfileStore
from commands.questions.models import Question
from commands.questions.rotation import pick_invitees
from commands.questions.settings import QuestionSettings
from commands.questions.store import ANSWERED, OPEN, QuestionStore
from commands.stats.sources import StatCount

log = logging.getLogger(__name__)

ESCALATE_KIND = "questions:escalate"
EXCERPT_CHARS = 140
LIST_LIMIT = 20
NOTIFY_ANSWERS = 5  # the asker hears of the first answers; the thread shows the rest


def escalate_job_id(question_id: int) -> str:
    return f"{ESCALATE_KIND}:{question_id}"


def invite_nudge_prefix(question_id: int) -> str:
    """The start of every invitation nudge's key for a question (the invitee follows)."""
    return f"questions:invite:{question_id}:"


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Questions(Feature):
    name = "questions"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.settings = QuestionSettings.from_config(services.config)
        self.store = QuestionStore(services.db, services.clock)
        self.profiles = ProfileStore(services.db, services.clock)
        services.privacy.register("questions", self.store.export_member, self.erase_member)
        services.scheduler.register(ESCALATE_KIND, self._escalate, MissedPolicy.always())

    async def start(self) -> None:
        if self.services.rooms.room_id(self.settings.room) is None:
            log.warning("no %s room: questions cannot be posted", self.settings.room)

    def _room(self) -> RoomId:
        room = self.services.rooms.room_id(self.settings.room)
        if room is None:
            raise UserError("questions.error.no_room")
        return room

    def _profession_key(self, text: str) -> str:
        found = self.services.professions.find(text) or self.services.professions.find(text.replace("-", " "))
        if found is None:
            raise UserError("questions.error.profession", value=text[:60])
        return found.key

    def _label(self, language: str, key: str) -> str:
        found = self.services.professions.get(key)
        return found.label(language) if found else key

    def _link(self, room_id: str | None, event_id: str | None) -> str:
        if not room_id or not event_id:
            return ""
        return self.services.transport.permalink(RoomId(room_id), EventId(event_id))

    # -- asking ------------------------------------------------------------------------

    @command("vraag", aliases=["vraag stellen", "stel vraag"], english="ask")
    async def ask(self, ctx: Context, profession: str, *, question: str) -> None:
        """Ask the members of a profession a question; the answers come in a thread."""
        key = self._profession_key(profession)
        text = question.strip()
        if len(text) < self.settings.min_length:
            raise UserError("questions.error.too_short", limit=self.settings.min_length)
        if len(text) > self.settings.max_length:
            raise UserError("questions.error.too_long", limit=self.settings.max_length, length=len(text))
        # The question goes to a public room: personal data is refused before anything is kept.
        await self.services.guard.check(text)
        room = self._room()
        question_id = await self.store.create(
            ctx.sender, key, text, ctx.message.event_id, max_open=self.settings.max_open
        )
        row = await self.store.get(question_id)
        if row is None:
            return
        if row.event_id is None:
            language = self.services.config.community.language
            badge = self.services.professions.get(key)
            rendered = self.services.catalogue.render(
                language,
                "questions.post",
                number=question_id,
                badge=badge.badge if badge else "•",
                profession=self._label(language, key),
                text=text,
                asker=self.services.members.mention(language, ctx.sender),
            )
            event_id = await self.services.transport.send(
                OutgoingMessage(
                    room_id=room,
                    plain=rendered.plain,
                    html=rendered.html,
                    notice=False,
                    txn_id=ctx.next_txn_id(),
                )
            )
            await self.store.set_post(question_id, room, event_id)
            row = await self.store.get(question_id)
            if row is None:
                return
        invited = await self._invite_round(row, 1)
        await self.services.scheduler.schedule_once(
            escalate_job_id(question_id),
            ESCALATE_KIND,
            row.created_at + self.settings.escalate_after,
            {"question_id": question_id},
            replace=False,
        )
        await ctx.reply(
            "questions.asked" if invited else "questions.asked_nobody",
            number=question_id,
            profession=self._label(ctx.language, key),
            count=invited,
            link=self._link(row.room_id, row.event_id),
        )

    async def _eligible(self, question: Question) -> list[str]:
        preferences = await self.store.preferences()
        already = set(await self.store.invited(question.id))
        eligible = []
        for profile in await self.profiles.listed():
            user = profile.user_id
            if profile.profession != question.profession or user == question.asker_id or user in already:
                continue
            if preferences.get(user, self.settings.invite_by_default):
                eligible.append(user)
        return eligible

    async def _invite_round(self, question: Question, round_number: int) -> int:
        """Invite a round (or finish one a crash interrupted); returns how many are invited."""
        users = await self.store.invited(question.id, round_number)
        if not users and await self.store.start_round(question.id, round_number):
            eligible = await self._eligible(question)
            history = await self.store.history(eligible)
            users = pick_invitees(eligible, history, self.settings.invite_count, salt=question.id)
            await self.store.add_invites(question.id, round_number, users)
        expires = question.created_at + self.settings.escalate_after * 3
        for user in users:
            await self.services.nudges.nudge(
                user,
                "questions.invite",
                "questions.invite",
                {
                    "number": question.id,
                    "profession": self._label(
                        await self.services.members.language_of(UserId(user)), question.profession
                    ),
                    "excerpt": excerpt(question.text),
                    "link": self._link(question.room_id, question.event_id),
                },
                dedupe_key=invite_nudge_prefix(question.id) + user,
                expires_at=expires,
            )
        return len(users)

    async def _escalate(self, job_id: str, payload: dict[str, Any]) -> None:
        question = await self.store.get(int(payload["question_id"]))
        if question is None or question.status != OPEN or question.answers > 0 or not question.asker_id:
            return
        invited = await self._invite_round(question, 2)
        await self._dm(
            question.asker_id,
            "questions.escalated" if invited else "questions.unanswered",
            f"questions.escalated.{question.id}",
            number=question.id,
            count=invited,
            link=self._link(question.room_id, question.event_id),
        )

    async def _dm(self, user_id: str, key: str, txn_id: str, **params: Any) -> None:
        await self.services.members.tell(UserId(user_id), key, txn_id=txn_id, **params)

    # -- answers -------------------------------------------------------------------------

    @listener(IncomingMessage)
    async def on_answer(self, message: IncomingMessage) -> None:
        """A reply in a question's thread by someone else: the asker hears of it."""
        target = message.thread_root or message.reply_to
        if target is None or message.room_id != self.services.rooms.room_id(self.settings.room):
            return
        question = await self.store.by_event(target)
        if question is None or not question.asker_id or message.sender == question.asker_id:
            return
        if message.sender == self.services.transport.own_user_id:
            return
        count = await self.store.record_answer(question.id)
        if count == 1:
            await self.services.scheduler.cancel(escalate_job_id(question.id))
        if 1 <= count <= NOTIFY_ANSWERS:
            await self._dm(
                question.asker_id,
                "questions.answered",
                f"questions.answered.{message.event_id}",
                number=question.id,
                member=self.services.members.mention(
                    await self.services.members.language_of(UserId(question.asker_id)), message.sender
                ),
                link=self._link(question.room_id, message.event_id),
            )

    @command("vraag opgelost", aliases=["vraag beantwoord", "vraag klaar"], english="ask solved")
    async def solved(self, ctx: Context, number: int | None = None) -> None:
        """Mark your question as answered (in its thread, by number, or your latest)."""
        question: Question | None
        if number is not None:
            question = await self.store.get(number)
        elif ctx.message.thread_root:
            question = await self.store.by_event(ctx.message.thread_root)
        else:
            question = await self.store.latest_open_of(ctx.sender)
            if question is None:
                raise UserError("questions.error.none_open")
        if question is None or question.asker_id != ctx.sender:
            raise UserError("questions.error.not_yours", number=number or "")
        if not await self.store.close(question.id, ANSWERED):
            raise UserError("questions.error.already_closed", number=question.id)
        await self.services.scheduler.cancel(escalate_job_id(question.id))
        await ctx.reply("questions.solved", number=question.id)

    # -- members -------------------------------------------------------------------------

    @command("vragen", aliases=["vragen ontvangen"], english="questions")
    async def accepts(self, ctx: Context, accept: bool) -> None:
        """Whether you want to be invited to answer questions to your profession."""
        await self.store.set_accepts(ctx.sender, accept)
        await ctx.reply("questions.accepts.on" if accept else "questions.accepts.off")

    @command("vragen open", aliases=["open vragen"], english="questions open")
    async def open_questions(self, ctx: Context, *, profession: str | None = None) -> None:
        """Open questions per profession: where you can help."""
        key = self._profession_key(profession) if profession else None
        questions = await self.store.open_questions(key)
        if not questions:
            await ctx.reply("questions.open.none")
            return
        by_profession: dict[str, list[Question]] = {}
        for question in questions[-LIST_LIMIT:]:
            by_profession.setdefault(question.profession, []).append(question)
        blocks: list[Markup] = []
        for prof, items in by_profession.items():
            lines = [
                ctx.fragment(
                    "questions.open.line",
                    number=q.id,
                    excerpt=excerpt(q.text, 80),
                    answers=q.answers,
                    link=self._link(q.room_id, q.event_id),
                )
                for q in items
            ]
            blocks.append(
                ctx.fragment(
                    "questions.open.group",
                    profession=self._label(ctx.language, prof),
                    lines=Markup.join(lines),
                )
            )
        await ctx.reply("questions.open.report", total=len(questions), groups=Markup.join(blocks, "\n\n"))

    # -- digest and stats ----------------------------------------------------------------

    async def digest_sections(self, requests: Sequence[DigestRequest]) -> Mapping[str, DigestSection]:
        """Open questions to the member's profession (not their own)."""
        by_profession: dict[str, list[Question]] = {}
        for question in await self.store.open_questions():
            by_profession.setdefault(question.profession, []).append(question)
        sections: dict[str, DigestSection] = {}
        for request in requests:
            found = [
                q for q in by_profession.get(request.profession or "", []) if q.asker_id != request.user_id
            ]
            if not found:
                continue
            catalogue = self.services.catalogue
            items = tuple(
                DigestItem(
                    catalogue.fragment(
                        request.language,
                        "questions.digest.line",
                        number=q.id,
                        excerpt=excerpt(q.text, 80),
                        link=self._link(q.room_id, q.event_id),
                    ),
                    q.event_id,
                )
                for q in reversed(found)
            )
            title = catalogue.fragment(
                request.language,
                "questions.digest.title",
                profession=self._label(request.language, request.profession or ""),
            )
            sections[request.user_id] = DigestSection(20, title, items)
        return sections

    async def stats_counts(self, since: datetime, until: datetime) -> list[StatCount]:
        """Questions asked and answered per profession, and the median hours to a first answer."""
        return await self.store.stats(since, until)

    # -- privacy -------------------------------------------------------------------------

    async def erase_member(self, user_id: UserId) -> int:
        """The member's questions leave the room (their text named them); invitations go."""
        for question in await self.store.asked_by(user_id):
            await self.services.scheduler.cancel(escalate_job_id(question.id))
            # Other members' invitations quote the question: the quote goes too.
            await self.services.nudges.forget_content(invite_nudge_prefix(question.id))
            if question.room_id and question.event_id:
                await self.services.transport.redact(
                    RoomId(question.room_id), EventId(question.event_id), None
                )
        return await self.store.erase_member(user_id)
