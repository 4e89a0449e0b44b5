"""Multi-step DM conversations: a feature asks questions one by one.

A flow declares its questions; the service stores where each member is (and their
answers so far) in ``core_conversations``, so a restart in the middle loses nothing.
Members answer by number, label or alias; ``stop`` ends (keeping what was given),
``terug``/``back`` goes one question back, ``overslaan``/``skip`` skips an optional one.
A flow may start with answers filled in (a member editing what they gave before): the
question then shows the current answer, and ``ok``/``houden``/``keep`` keeps it.

The words are the catalogue's ``core.words`` lists, in every language. "ok" is a keep
word and a yes word: where a question shows a current answer it keeps that answer
(checked before the answer is read); elsewhere it answers a yes/no question with yes.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.command_checks import is_place_check
from bot.errors import ConversationError
from bot.formatting import Markup
from bot.i18n import normalise_word
from bot.ids import RoomId, UserId
from bot.polls import numbered
from bot.replies import error_reply
from bot.storage import Database
from bot.storage.models import Conversation
from bot.storage.results import rowcount
from bot.textnorm import closest, is_number, split_list
from bot.transport import OutgoingMessage, Poll

if TYPE_CHECKING:
    from bot.context import Context
    from bot.i18n import Catalogue
    from bot.polls import StartedPoll
    from bot.registry import Command

log = logging.getLogger(__name__)

_MAX_ANSWER_CHARS = 4000
#: The purpose of the polls conversations ask their questions with (:mod:`bot.polls`).
CONVERSATION_POLLS = "core.conversation"
#: ``core_conversations.context`` key: the name of the command that opened the flow.
STARTED_BY = "command"


@dataclass(frozen=True)
class Choice:
    """One answer option; members may type its number, its label or an alias."""

    value: str
    label_key: str = ""
    label: str = ""  # a fixed label (e.g. a profession from content) instead of a key
    aliases: tuple[str, ...] = ()
    # Fixed labels per language, as (language, label) pairs, for content with its own
    # translations (professions, themes).
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Question:
    name: str
    prompt_key: str
    choices: tuple[Choice, ...] = ()
    multiple: bool = False
    optional: bool = False
    max_length: int | None = None
    parser: Callable[[str], Any] | None = None
    prompt_params: dict[str, Any] = field(default_factory=dict)
    # False for a question that is no part of the questionnaire itself (a consent, a
    # confirmation): it shows no counter and is not counted in "question 3 of 12".
    counted: bool = True
    # Asked as a poll (with choices): members whose client shows polls tap an answer;
    # the poll's text (what other clients show) is the usual question, and typing the
    # number still answers it.
    poll: bool = False


def yes_no_choices(
    catalogue: Catalogue,
    yes_label_key: str,
    no_label_key: str,
    *,
    yes_also: Iterable[str] = (),
    no_also: Iterable[str] = (),
) -> tuple[Choice, Choice]:
    """The two answers of a yes/no question (values ``yes`` and ``no``), answered with
    any of the catalogue's yes or no words; ``yes_also``/``no_also`` add words that mean
    yes or no only for this question ("anoniem", "met naam")."""
    return (
        Choice("yes", label_key=yes_label_key, aliases=tuple(sorted({*catalogue.words("yes"), *yes_also}))),
        Choice("no", label_key=no_label_key, aliases=tuple(sorted({*catalogue.words("no"), *no_also}))),
    )


class Flow(Protocol):
    """A conversation a feature offers."""

    name: str

    def questions(self, answers: dict[str, Any]) -> Sequence[Question]:
        """The questions, which may depend on earlier answers."""
        ...

    async def finish(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        """Called once at the end; ``completed`` is False when the member said stop."""
        ...


def _approximate(flow: Flow) -> bool:
    """Whether the flow's length depends on the answers (``approximate_total = True`` on
    the flow): then the counter says "about N more" instead of a total that may grow."""
    return bool(getattr(flow, "approximate_total", False))


def _choice_label(ctx: Context, choice: Choice) -> str:
    if choice.labels:
        by_language = dict(choice.labels)
        return by_language.get(ctx.language) or next(iter(by_language.values()))
    return choice.label or (ctx.text(choice.label_key) if choice.label_key else choice.value)


def _all_labels(ctx: Context, choice: Choice) -> set[str]:
    return {label.lower() for _, label in choice.labels} | {_choice_label(ctx, choice).lower()}


def _find_choice(ctx: Context, question: Question, part: str) -> Choice | None:
    """The choice one answer names: its number, value, label (any language) or alias."""
    lowered = normalise_word(part)
    if is_number(lowered):
        number = int(lowered)
        return question.choices[number - 1] if 1 <= number <= len(question.choices) else None
    for choice in question.choices:
        names = {choice.value.lower(), *_all_labels(ctx, choice), *(a.lower() for a in choice.aliases)}
        if lowered in names:
            return choice
    return None


def _nearest_choice(ctx: Context, question: Question, part: str) -> str | None:
    """The label of the choice a misspelt answer most likely meant ("utrechtt")."""
    by_name: dict[str, Choice] = {}
    for choice in question.choices:
        for name in (choice.value, *_all_labels(ctx, choice), *choice.aliases):
            by_name.setdefault(name.lower(), choice)
    nearest = closest(part, by_name)
    return _choice_label(ctx, by_name[nearest]) if nearest is not None else None


def match_choice(ctx: Context, question: Question, text: str) -> list[str]:
    """The values a member picked; raises :class:`ConversationError` when unclear."""
    if question.multiple:
        parts = split_list(text, lambda part: _find_choice(ctx, question, part) is not None)
    else:
        parts = [text.strip()] if text.strip() else []
    if not parts:
        raise ConversationError("core.conversation.choose_one")
    picked: list[str] = []
    for part in parts:
        found = _find_choice(ctx, question, part)
        if found is None:
            count = len(question.choices)
            nearest = _nearest_choice(ctx, question, part)
            if nearest is not None:
                raise ConversationError(
                    "core.conversation.not_a_choice_suggest", answer=part, count=count, suggestion=nearest
                )
            raise ConversationError("core.conversation.not_a_choice", answer=part, count=count)
        if found.value not in picked:
            picked.append(found.value)
    return picked


class ConversationService:
    """Runs every flow; the router hands it each DM text while a conversation is open."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._flows: dict[str, Flow] = {}

    def register(self, flow: Flow) -> None:
        if flow.name in self._flows:
            raise ValueError(f"conversation flow {flow.name!r} registered twice")
        self._flows[flow.name] = flow

    async def active(self, user_id: UserId) -> Conversation | None:
        async with self._db.session() as session:
            return await session.get(Conversation, user_id)

    async def start(
        self, ctx: Context, flow_name: str, room_id: RoomId, answers: dict[str, Any] | None = None
    ) -> None:
        """Start (or restart) a flow for the sender in ``room_id`` (their DM) and ask question one."""
        flow = self._flows[flow_name]
        now = self._clock.now()
        async with self._db.transaction() as session:
            existing = await session.get(Conversation, ctx.sender)
            if existing is not None:
                await session.delete(existing)
                await session.flush()
            session.add(
                Conversation(
                    user_id=ctx.sender,
                    flow=flow_name,
                    room_id=room_id,
                    step=0,
                    answers=dict(answers or {}),
                    # The command that opened the flow: its role checks run again at the end.
                    context={STARTED_BY: ctx.command.name} if ctx.command is not None else {},
                    started_at=now,
                    updated_at=now,
                )
            )
        await self._ask(ctx, flow, dict(answers or {}), 0, room_id)

    def open_in(
        self, session: AsyncSession, user_id: UserId, flow_name: str, room_id: RoomId, answers: dict[str, Any]
    ) -> None:
        """Open a flow inside the caller's transaction without asking anything: the caller
        sends the first question itself (an onboarding message that ends with it)."""
        if flow_name not in self._flows:
            raise ValueError(f"unknown conversation flow {flow_name!r}")
        now = self._clock.now()
        session.add(
            Conversation(
                user_id=user_id,
                flow=flow_name,
                room_id=room_id,
                step=0,
                answers=dict(answers),
                context={},
                started_at=now,
                updated_at=now,
            )
        )

    async def cancel(self, user_id: UserId) -> bool:
        async with self._db.transaction() as session:
            result = await session.execute(delete(Conversation).where(Conversation.user_id == user_id))
        return bool(rowcount(result))

    async def handle(self, ctx: Context) -> bool:
        """Feed the member's message to their open conversation; False when none is open."""
        state = await self.active(ctx.sender)
        if state is None or state.room_id != ctx.room_id:
            return False
        flow = self._flows.get(state.flow)
        if flow is None:
            log.warning("dropping conversation of unknown flow %s", state.flow)
            await self.cancel(ctx.sender)
            return False
        answers = dict(state.answers)
        step = state.step
        if state.context.get("last_event") == ctx.message.event_id:
            # The same message again: a restart after a crash replays it. The answer was
            # taken already; ask the current question (sent once, by transaction id).
            await self._ask(ctx, flow, answers, step, ctx.room_id)
            return True
        questions = list(flow.questions(answers))
        text = ctx.message.body.strip()[:_MAX_ANSWER_CHARS]
        catalogue = ctx.services.catalogue
        if catalogue.is_word("stop", text):
            await self.cancel(ctx.sender)
            await flow.finish(ctx, answers, completed=False)
            return True
        if catalogue.is_word("back", text):
            # The earlier answer stays as the current one, so the member can keep it.
            step = max(step - 1, 0)
            await self._save(ctx.sender, step, answers, ctx.message.event_id)
            await self._ask(ctx, flow, answers, step, ctx.room_id)
            return True
        if step >= len(questions):
            step = len(questions) - 1
        question = questions[step]
        try:
            if question.name in answers and catalogue.is_word("keep", text):
                # Before the answer is read: "ok" keeps the current answer, not "yes".
                pass
            elif catalogue.is_word("skip", text):
                if not question.optional:
                    raise ConversationError("core.conversation.not_optional")
                answers.pop(question.name, None)
            else:
                answers[question.name] = self._parse(ctx, question, text)
        except ConversationError as error:
            if question.choices and ctx.services.registry.resolve(text.split()[:4]) is not None:
                # Not an answer but a command typed without the prefix ("help" in a DM):
                # let the router run it; the question stays open.
                return False
            # Say what was wrong, then ask the same question again: nothing is lost.
            await ctx.reply_rendered(
                error_reply(ctx.services.catalogue, ctx.language, error, prefix=ctx.prefix)
            )
            await self._ask(ctx, flow, answers, step, ctx.room_id)
            return True
        step += 1
        questions = list(flow.questions(answers))
        if step >= len(questions):
            await self.cancel(ctx.sender)
            # A role may have been taken away half-way (an organiser no longer one):
            # what the flow does at the end is allowed only if the opening command still is.
            opening = await self._recheck_roles(ctx, state.context.get(STARTED_BY))
            previous, ctx.command = ctx.command, opening or ctx.command
            try:
                # A flow the finish opens (the confirmation after a preview) carries the
                # same command, so its end is checked again too.
                await flow.finish(ctx, answers, completed=True)
            finally:
                ctx.command = previous
            return True
        await self._save(ctx.sender, step, answers, ctx.message.event_id)
        await self._ask(ctx, flow, answers, step, ctx.room_id)
        return True

    async def _recheck_roles(self, ctx: Context, command_name: object) -> Command | None:
        """Run the opening command's role checks again; a failure is the member's error
        (the conversation is closed already, so nothing is done on their behalf).
        Returns the opening command, if known."""
        if not isinstance(command_name, str):
            return None
        resolved = ctx.services.registry.resolve(command_name.split())
        if resolved is None:
            return None
        command, _used = resolved
        previous, ctx.command = ctx.command, command  # checks may read their command's feature
        try:
            for predicate in command.checks:
                if not is_place_check(predicate):  # the answers came in a DM: only who counts
                    await predicate(ctx)
        finally:
            ctx.command = previous
        return command

    def _parse(self, ctx: Context, question: Question, text: str) -> Any:
        if question.choices:
            picked = match_choice(ctx, question, text)
            return picked if question.multiple else picked[0]
        if question.max_length is not None and len(text) > question.max_length:
            # The length of the text as sent: the member counted the space or line break
            # at the end too, and reads "785" for their 786 as a miscount.
            sent = len(ctx.message.body)
            raise ConversationError("core.conversation.too_long", limit=question.max_length, length=sent)
        if question.parser is not None:
            return question.parser(text)
        if not text:
            raise ConversationError("core.conversation.empty")
        return text

    async def _save(self, user_id: UserId, step: int, answers: dict[str, Any], event_id: str) -> None:
        async with self._db.transaction() as session:
            state = await session.get(Conversation, user_id)
            if state is not None:
                state.step = step
                state.answers = answers
                state.context = {**state.context, "last_event": event_id}
                state.updated_at = self._clock.now()

    async def _ask(
        self, ctx: Context, flow: Flow, answers: dict[str, Any], step: int, room_id: RoomId
    ) -> None:
        questions = list(flow.questions(answers))
        question = questions[step]
        lines = []
        for number, choice in enumerate(question.choices, start=1):
            lines.append(
                ctx.fragment("core.conversation.choice_line", number=number, label=_choice_label(ctx, choice))
            )
        choices = Markup.join(lines)
        hints = (
            ["core.conversation.hint_multiple" if question.multiple else "core.conversation.hint_single"]
            if lines
            else []
        )
        if question.name in answers:
            hints.insert(0, "core.conversation.hint_keep")
        if question.optional:
            hints.append("core.conversation.hint_skip")
        if step > 0:
            hints.append("core.conversation.hint_back")
        hints.append("core.conversation.hint_stop")
        # Fragments, not plain text: a hint's `word` must reach the member as code, not
        # as literal backticks.
        hint_text = Markup.join((ctx.fragment(h) for h in hints), sep=" · ")
        current = _current_answer(ctx, question, answers.get(question.name))
        counted = [q for q in questions if q.counted]
        number = sum(1 for q in questions[: step + 1] if q.counted)
        counter = _Counter(
            number=number if question.counted else 0,
            total=len(counted),
            approximate=_approximate(flow),
        )
        params = _question_params(ctx, question, counter, choices, hint_text, current)
        catalogue = ctx.services.catalogue
        if question.poll and question.choices:
            await ctx.services.polls.start(
                room_id,
                Poll(
                    ctx.text(question.prompt_key, **question.prompt_params),
                    numbered([_choice_label(ctx, choice) for choice in question.choices]),
                    max_selections=len(question.choices) if question.multiple else 1,
                ),
                purpose=CONVERSATION_POLLS,
                ref=f"{flow.name}:{question.name}",
                language=ctx.language,
                txn_id=ctx.next_txn_id(),
                intro=catalogue.fragment(ctx.language, counter.key(), **params),
            )
            return
        rendered = catalogue.render(ctx.language, counter.key(), **params)
        await ctx.services.transport.send(
            OutgoingMessage(
                room_id=room_id, plain=rendered.plain, html=rendered.html, txn_id=ctx.next_txn_id()
            )
        )

    async def on_poll_vote(self, ctx: Context, poll: StartedPoll, answer_ids: tuple[str, ...]) -> None:
        """A vote on a question's poll answers it, as if the member typed the number(s);
        a vote on a question the conversation has moved past changes nothing."""
        from bot.context import Context  # the context module needs this one at import

        state = await self.active(ctx.sender)
        flow_name, _, question_name = poll.ref.rpartition(":")
        if state is None or state.room_id != poll.room_id or state.flow != flow_name or not answer_ids:
            return
        flow = self._flows.get(state.flow)
        questions = list(flow.questions(dict(state.answers))) if flow is not None else []
        if state.step >= len(questions) or questions[state.step].name != question_name:
            return
        message = dataclasses.replace(ctx.message, body=", ".join(answer_ids))
        await self.handle(Context(ctx.services, message, ctx.language))

    async def export_member(self, user_id: UserId) -> dict[str, Any]:
        state = await self.active(user_id)
        if state is None:
            return {}
        return {"flow": state.flow, "step": state.step, "answers": state.answers}

    async def erase_member(self, user_id: UserId) -> int:
        return 1 if await self.cancel(user_id) else 0


def _current_answer(ctx: Context, question: Question, value: Any) -> Markup:
    """The answer a member gave before, shown so they can keep it."""
    if value is None or value == [] or value == "":
        return Markup("", "")
    values = value if isinstance(value, list) else [value]
    by_value = {choice.value: _choice_label(ctx, choice) for choice in question.choices}
    shown = ", ".join(by_value.get(str(v), str(v)) for v in values)
    if len(shown) > 200:
        shown = shown[:199] + "…"
    return ctx.fragment("core.conversation.current", answer=shown)


@dataclass(frozen=True)
class _Counter:
    """Where a question stands among the counted ones; ``number`` 0 for one not counted."""

    number: int
    total: int
    approximate: bool

    def key(self) -> str:
        # A single question (consent, erasure) needs no "question 1 of 1" counter, and
        # neither does a question outside the count (a consent, a confirmation).
        if self.number == 0 or self.total <= 1:
            return "core.conversation.question_single"
        return "core.conversation.question_about" if self.approximate else "core.conversation.question"


def _question_params(
    ctx: Context, question: Question, counter: _Counter, choices: Markup, hints: Markup, current: Markup
) -> dict[str, Any]:
    """The parameters of the question message (its key is the counter's)."""
    return {
        "number": counter.number,
        "total": counter.total,
        "remaining": counter.total - counter.number + 1,
        "question": ctx.fragment(question.prompt_key, **question.prompt_params),
        "choices": choices,
        "hints": hints,
        "current": current,
    }
