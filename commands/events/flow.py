"""The events feature's conversations: creating an event in a DM, confirming an
announcement after planning advice, and the evaluation the day after (Bijlage 3)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from bot.conversations import Choice, Question, yes_no_choices
from bot.errors import ConversationError, UserError
from bot.i18n import Catalogue, core_catalogue
from commands.events.planning import (
    FORMS,
    TEXT_LIMIT,
    TITLE_LIMIT,
    Draft,
    parse_audience,
    parse_capacity,
    parse_dates,
    parse_link,
    parse_time_range,
)

if TYPE_CHECKING:
    from bot.context import Context
    from bot.privacy_guard import PrivacyGuard
    from bot.services import Services

CREATE_FLOW = "events.create"
CONFIRM_FLOW = "events.confirm"
EVALUATION_FLOW = "events.evaluation"
# Answers a flow keeps for itself.
EVENT_IDS = "_events"
EVENT_ID = "_event"
KNOWN_PROFESSION = "_known_profession"
#: The evaluation's scale question: 1 (poor) to 5 (excellent).
RATINGS = ("1", "2", "3", "4", "5")

Finisher = Callable[["Context", dict[str, Any], bool], Awaitable[None]]


def yes_no(catalogue: Catalogue) -> tuple[Choice, Choice]:
    """Yes and no for the events' questions, in the catalogue's words (any language)."""
    return yes_no_choices(catalogue, "events.answer.yes", "events.answer.no")


def _converting(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """A parser whose member mistakes are conversation errors: said, then asked again."""

    def parser(text: str) -> Any:
        try:
            return parse(text)
        except ConversationError:
            raise
        except UserError as error:
            raise ConversationError(error.key, **error.params) from error

    return parser


async def screen_draft(guard: PrivacyGuard, draft: Draft) -> None:
    """The event's texts the bot posts in rooms (title, programme, accreditation) may
    hold no personal data. The place stays unscreened: a venue's address is public."""
    await guard.check(draft.title, draft.programme, draft.accreditation)


def _guarded(guard: PrivacyGuard) -> Callable[[str], str]:
    """A free-text answer the bot will post, refused (and asked again) when it holds
    personal data."""

    def parser(text: str) -> str:
        if not text:
            raise ConversationError("core.conversation.empty")
        guard.check_answer(text)
        return text

    return parser


class CreateFlow:
    """``!event nieuw`` without options: one question at a time in the organiser's DM."""

    name = CREATE_FLOW

    def __init__(self, services: Services, finisher: Finisher) -> None:
        self.services = services
        self._finisher = finisher
        self._guarded = _guarded(services.guard)
        self._forms = tuple(Choice(form, label_key=f"events.form.{form}") for form in FORMS)
        self._yes_no = yes_no(services.catalogue)
        self._themes = tuple(
            Choice(t.key, labels=tuple(t.name.items()), aliases=(t.key,)) for t in services.config.themes
        )

    def _today(self) -> Any:
        return self.services.clock.now().date()

    def _dates(self, text: str) -> list[str]:
        days = parse_dates(text, self._today())
        if days[0] < self._today():
            raise ConversationError("events.error.in_past")
        return [day.isoformat() for day in days]

    def questions(self, answers: dict[str, Any]) -> Sequence[Question]:
        professions = self.services.professions
        questions = [
            Question("title", "events.ask.title", max_length=TITLE_LIMIT, parser=self._guarded),
            Question(
                "dates",
                "events.ask.dates",
                parser=_converting(self._dates),
            ),
            Question("time", "events.ask.time", parser=_converting(_time_text)),
            Question("form", "events.ask.form", choices=self._forms),
        ]
        form = answers.get("form")
        if form in ("fysiek", "hybride"):
            questions.append(Question("place", "events.ask.place", max_length=300))
        if form in ("online", "hybride"):
            questions.append(Question("link", "events.ask.link", parser=_converting(parse_link)))
        questions += [
            Question(
                "programme",
                "events.ask.programme",
                optional=True,
                max_length=TEXT_LIMIT,
                parser=self._guarded,
            ),
            Question(
                "accreditation",
                "events.ask.accreditation",
                optional=True,
                max_length=200,
                parser=self._guarded,
            ),
            Question("lunch", "events.ask.lunch", choices=self._yes_no),
            Question("capacity", "events.ask.capacity", optional=True, parser=_converting(parse_capacity)),
            Question(
                "audience",
                "events.ask.audience",
                optional=True,
                parser=_converting(lambda t: list(parse_audience(t, professions))),
            ),
        ]
        if self._themes:
            questions.append(Question("theme", "events.ask.theme", choices=self._themes, optional=True))
        return questions

    async def finish(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        await self._finisher(ctx, answers, completed)


def _time_text(text: str) -> str:
    start, end = parse_time_range(text)
    return f"{start:%H:%M}-{end:%H:%M}"


class ConfirmFlow:
    """One question after the preview and the planning advice: announce it like this?"""

    name = CONFIRM_FLOW

    def __init__(self, finisher: Finisher, catalogue: Catalogue | None = None) -> None:
        self._finisher = finisher
        # The core's word lists when the feature passes no catalogue: the same YAML.
        self._yes_no = yes_no(catalogue or core_catalogue())

    def questions(self, answers: dict[str, Any]) -> Sequence[Question]:
        return [Question("announce", "events.ask.announce", choices=self._yes_no)]

    async def finish(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        await self._finisher(ctx, answers, completed)


class EvaluationFlow:
    """The research's evaluation form: what worked, what did not, tips; the profession
    comes from the member's profile and is asked only when there is none."""

    name = EVALUATION_FLOW

    def __init__(self, services: Services, finisher: Finisher) -> None:
        self._finisher = finisher
        # The answers are shown to the organisers in the evaluation report.
        self._guarded = _guarded(services.guard)
        self._professions = tuple(
            Choice(p.key, labels=tuple(p.labels.items()), aliases=p.abbreviations)
            for p in services.professions.items
        )
        self._ratings = tuple(Choice(r, label_key=f"events.evaluation.rating_choice.{r}") for r in RATINGS)

    def questions(self, answers: dict[str, Any]) -> Sequence[Question]:
        questions = [
            Question("worked", "events.evaluation.ask.worked", max_length=TEXT_LIMIT, parser=self._guarded),
            # A scale is what a poll is for: tapped where the client shows polls, typed
            # (or `!stem 4`) where it does not.
            Question(
                "rating", "events.evaluation.ask.rating", choices=self._ratings, optional=True, poll=True
            ),
            Question(
                "not_worked",
                "events.evaluation.ask.not_worked",
                optional=True,
                max_length=TEXT_LIMIT,
                parser=self._guarded,
            ),
            Question(
                "tips",
                "events.evaluation.ask.tips",
                optional=True,
                max_length=TEXT_LIMIT,
                parser=self._guarded,
            ),
        ]
        if not answers.get(KNOWN_PROFESSION):
            questions.append(
                Question("profession", "events.evaluation.ask.profession", choices=self._professions)
            )
        return questions

    async def finish(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        await self._finisher(ctx, answers, completed)
