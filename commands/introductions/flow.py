"""The introduction conversation: consent first, then the profile, one question at a time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from bot.conversations import Choice, Question, yes_no_choices
from bot.errors import ConversationError
from commands.introductions.fields import parse_years
from commands.introductions.offers import answer_name, offers_in
from commands.introductions.vocabulary import (
    ABOUT_LIMIT,
    DAYS,
    EXPERIENCE,
    GOALS,
    REGIONS,
    SETTINGS,
    WEIGHING_LIMIT,
)

if TYPE_CHECKING:
    from bot.context import Context
    from bot.services import Services

FLOW_NAME = "introductions.intro"
# The member's own words, shown on cards: screened for personal data.
FREE_TEXT_FIELDS = ("about", "weighing")

# Answers the flow keeps for itself (never stored in a profile).
HAS_PROFILE = "_has_profile"
ONE_LINE = "_one_line"
WELCOME = "_welcome"

Finisher = Callable[["Context", dict[str, Any], bool], Awaitable[None]]


class IntroFlow:
    """Asks what a profile holds. ``finish`` is the feature's, which stores and announces."""

    name = FLOW_NAME

    def __init__(self, services: Services, finisher: Finisher) -> None:
        self.services = services
        self._finisher = finisher
        self._profession_choices = tuple(
            Choice(p.key, labels=tuple(p.labels.items()), aliases=p.abbreviations)
            for p in services.professions.items
        )
        # Answered with the catalogue's yes and no words (core.words), in any language.
        self._yes_no = yes_no_choices(
            services.catalogue, "introductions.answer.yes", "introductions.answer.no"
        )
        self._theme_choices = tuple(
            Choice(t.key, labels=tuple(t.name.items()), aliases=(t.key,)) for t in services.config.themes
        )

    def consent_question(self) -> Question:
        # Outside the count: "Vraag 1 van 15" for a yes/no about storing reads wrong.
        return Question("consent", "introductions.ask.consent", choices=self._yes_no, counted=False)

    # Some questions follow from answers: the counter says "about N more", not a total
    # that grows mid-way.
    approximate_total = True

    def questions(self, answers: dict[str, Any]) -> Sequence[Question]:
        consent = [] if answers.get(HAS_PROFILE) else [self.consent_question()]
        if answers.get("consent") == "no":
            return consent
        if answers.get(ONE_LINE):
            # Everything else was given in one line. Being findable is the member's own
            # choice: asked here unless the line said `vindbaar=ja/nee`.
            listed = [] if "listed" in answers else [self._listed_question()]
            return [*consent, *listed]
        questions = [
            *consent,
            Question("profession", "introductions.ask.profession", choices=self._profession_choices),
            Question("experience", "introductions.ask.experience", choices=EXPERIENCE.choices()),
            Question("years", "introductions.ask.years", optional=True, parser=parse_years),
            Question("region", "introductions.ask.region", choices=REGIONS.choices()),
            Question("setting", "introductions.ask.setting", choices=SETTINGS.choices(), optional=True),
            Question(
                "work_days",
                "introductions.ask.work_days",
                choices=DAYS.choices(),
                multiple=True,
                optional=True,
            ),
            Question(
                "meet_days",
                "introductions.ask.meet_days",
                choices=DAYS.choices(),
                multiple=True,
                optional=True,
            ),
            Question("goals", "introductions.ask.goals", choices=GOALS.choices(), multiple=True),
        ]
        if self._theme_choices:
            questions.append(
                Question(
                    "themes",
                    "introductions.ask.themes",
                    choices=self._theme_choices,
                    multiple=True,
                    optional=True,
                )
            )
        # Whom to meet comes once the member said what they look for and what interests
        # them: the wish to cross a profession border wakes up around those.
        questions.append(
            Question(
                "meet_professions",
                "introductions.ask.meet_professions",
                choices=self._profession_choices,
                multiple=True,
                optional=True,
            )
        )
        questions += [
            Question(
                "about",
                "introductions.ask.about",
                optional=True,
                max_length=ABOUT_LIMIT,
                parser=self._own_text,
                prompt_params={"limit": ABOUT_LIMIT},
            ),
            Question(
                "weighing",
                "introductions.ask.weighing",
                optional=True,
                max_length=WEIGHING_LIMIT,
                parser=self._own_text,
                prompt_params={"limit": WEIGHING_LIMIT},
            ),
            self._listed_question(),
        ]
        if answers.get("weighing"):
            # Only a member who wrote how they weigh decisions has something to spotlight.
            questions.append(Question("spotlight", "introductions.ask.spotlight", choices=self._yes_no))
        if not answers.get(HAS_PROFILE):
            # Onboarding only: a member who edits their profile chose these already.
            # Other features' yes/no offers (the digest) come last.
            questions += [
                Question(answer_name(offer), offer.offer_question, choices=self._yes_no)
                for offer in offers_in(self.services.registry)
            ]
        return questions

    def _listed_question(self) -> Question:
        return Question("listed", "introductions.ask.listed", choices=self._yes_no)

    def _own_text(self, text: str) -> str:
        """An answer in the member's own words, refused (and asked again) when it holds
        personal data: it is shown to others on the member's card."""
        if not text:
            raise ConversationError("core.conversation.empty")
        self.services.guard.check_answer(text)
        return text

    async def finish(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        await self._finisher(ctx, answers, completed)
