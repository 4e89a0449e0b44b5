"""The ``!buddy zoek`` conversation, for members who give no options: three questions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from bot.conversations import Choice, Question
from bot.errors import ConversationError
from commands.introductions.vocabulary import EXPERIENCE

if TYPE_CHECKING:
    from bot.context import Context
    from bot.services import Services

FLOW_NAME = "buddy.find"
ANY = "any"
OTHER_PROFESSION = "other-profession"
TOPIC_LIMIT = 300

Finisher = Callable[["Context", dict[str, Any], bool], Awaitable[None]]


class BuddyFindFlow:
    name = FLOW_NAME

    def __init__(self, services: Services, finisher: Finisher) -> None:
        self._finisher = finisher
        self._guard = services.guard
        self._kind = (
            *EXPERIENCE.choices(),
            Choice(
                ANY, label_key="buddy.ask.any", aliases=("maakt niet uit", "geen voorkeur", "any", "whatever")
            ),
        )
        self._profession = (
            Choice(
                ANY, label_key="buddy.ask.any_profession", aliases=("maakt niet uit", "geen voorkeur", "any")
            ),
            Choice(
                OTHER_PROFESSION,
                label_key="buddy.ask.other_profession",
                aliases=("ander beroep", "ander vak", "other", "another profession"),
            ),
            *(
                Choice(p.key, labels=tuple(p.labels.items()), aliases=p.abbreviations)
                for p in services.professions.items
            ),
        )

    def questions(self, answers: dict[str, Any]) -> Sequence[Question]:
        return (
            Question("kind", "buddy.ask.kind", choices=self._kind),
            Question("profession", "buddy.ask.profession", choices=self._profession),
            Question(
                "topic",
                "buddy.ask.topic",
                optional=True,
                max_length=TOPIC_LIMIT,
                parser=self._topic,
                prompt_params={"limit": TOPIC_LIMIT},
            ),
        )

    def _topic(self, text: str) -> str:
        """The topic, when it holds no personal data (other members read it)."""
        topic = text.strip()
        if not topic:
            raise ConversationError("core.conversation.empty")
        self._guard.check_answer(topic)
        return topic

    async def finish(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        await self._finisher(ctx, answers, completed)
