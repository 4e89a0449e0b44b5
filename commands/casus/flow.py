"""The conversation in which a member brings in a case of their own.

Every text answer passes the privacy guard before the conversation keeps it: an answer
with personal data is refused with what was found (masked), and is not stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from bot.conversations import Choice, Question, yes_no_choices
from bot.errors import ConversationError
from bot.formatting import Markup
from commands.casus.library import TEXT_LIMIT, TITLE_LIMIT

if TYPE_CHECKING:
    from bot.context import Context
    from bot.services import Services

FLOW_NAME = "casus.submit"
QUESTIONS_LIMIT = 800

Finisher = Callable[["Context", dict[str, Any], bool], Awaitable[None]]


LANGUAGE = "_language"
"""The member's language, kept in the answers when the conversation starts."""


def split_questions(text: str) -> list[str]:
    """Questions a member typed: one per line, or separated by question marks."""
    lines = [line.strip(" -•*\t") for line in text.splitlines() if line.strip(" -•*\t")]
    if len(lines) == 1 and lines[0].count("?") > 1:
        parts = [p.strip() for p in lines[0].split("?") if p.strip()]
        lines = [p + "?" for p in parts]
    return lines[:5]


class SubmitFlow:
    """Theme, title, the case, optional questions, and anonymous or not."""

    name = FLOW_NAME

    def __init__(self, services: Services, finisher: Finisher) -> None:
        self.services = services
        self._finisher = finisher
        self._theme_choices = tuple(
            Choice(t.key, labels=tuple(t.name.items()), aliases=(t.key,)) for t in services.config.themes
        )
        catalogue = services.catalogue
        # Yes and no in any language, plus "anoniem" / "met naam" for this question only.
        self._send = yes_no_choices(catalogue, "casus.answer.send", "casus.answer.dont_send")
        self._anonymous = yes_no_choices(
            catalogue,
            "casus.answer.yes",
            "casus.answer.no",
            yes_also=catalogue.word_list("casus.words.anonymous"),
            no_also=catalogue.word_list("casus.words.named"),
        )

    def questions(self, answers: dict[str, Any]) -> Sequence[Question]:
        parser = self.screened
        return [
            Question("theme", "casus.ask.theme", choices=self._theme_choices),
            Question(
                "title",
                "casus.ask.title",
                max_length=TITLE_LIMIT,
                parser=parser,
                prompt_params={"limit": TITLE_LIMIT},
            ),
            Question(
                "text",
                "casus.ask.text",
                max_length=TEXT_LIMIT,
                parser=parser,
                prompt_params={"limit": TEXT_LIMIT},
            ),
            Question(
                "questions", "casus.ask.questions", optional=True, max_length=QUESTIONS_LIMIT, parser=parser
            ),
            Question("anonymous", "casus.ask.anonymous", choices=self._anonymous),
            # What the moderator will read, once more before it goes: `terug` mends it.
            Question(
                "send",
                "casus.ask.send",
                choices=self._send,
                counted=False,
                prompt_params=self._summary(answers),
            ),
        ]

    def _summary(self, answers: dict[str, Any]) -> dict[str, Any]:
        catalogue = self.services.catalogue
        language = str(answers.get(LANGUAGE) or catalogue.default_language)
        theme = next((t for t in self.services.config.themes if t.key == answers.get("theme")), None)
        asked = split_questions(str(answers.get("questions") or ""))
        lines = [catalogue.fragment(language, "casus.post.question", question=q) for q in asked]
        questions = (
            catalogue.fragment(language, "casus.ask.send_questions", questions=Markup.join(lines))
            if asked
            else Markup("", "")
        )
        how = "casus.ask.send_anonymous" if answers.get("anonymous") != "no" else "casus.ask.send_named"
        return {
            "theme": theme.label(language) if theme else "",
            "title": str(answers.get("title") or ""),
            "text": str(answers.get("text") or ""),
            "questions": questions,
            "how": catalogue.fragment(language, how),
        }

    def screened(self, text: str) -> str:
        """The answer when it is clean; otherwise the member hears what was found (masked)
        and the answer is not kept."""
        cleaned = text.strip()
        if not cleaned:
            raise ConversationError("core.conversation.empty")
        self.services.guard.check_answer(cleaned, key="casus.guard.found")
        return cleaned

    async def finish(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        await self._finisher(ctx, answers, completed)
