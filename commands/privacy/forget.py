"""``!vergeet-mij``: one yes/no question in the member's DM, then erasure everywhere."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.conversations import Question, yes_no_choices
from bot.formatting import Markup

if TYPE_CHECKING:
    from bot.context import Context
    from bot.services import Services

FLOW_NAME = "privacy.forget"
# The member's language, stored with the conversation when it starts: the question
# lists what will be erased, and questions() is asked without a context.
LANGUAGE = "language"
CONFIRM = "confirm"
YES = "yes"


def part_label_key(part: str) -> str:
    """``privacy.part.core_members``: the readable name of a privacy hook.

    A feature may define ``privacy.part.<its hook name>`` in its own catalogue; without
    one the hook's name is shown.
    """
    return "privacy.part." + part.replace(".", "_").replace("-", "_")


def part_label(services: Services, language: str, part: str) -> str:
    key = part_label_key(part)
    return services.catalogue.plain(language, key) if services.catalogue.has(key) else part


class ForgetFlow:
    """Asks once whether to erase everything; only a yes (``ja``, ``yes``, the first
    choice, any of the catalogue's yes words) erases."""

    name = FLOW_NAME

    def __init__(self, services: Services) -> None:
        self.services = services
        self._choices = yes_no_choices(services.catalogue, "privacy.forget.yes", "privacy.forget.no")

    def questions(self, answers: dict[str, Any]) -> Sequence[Question]:
        language = str(answers.get(LANGUAGE) or self.services.catalogue.default_language)
        return [
            Question(
                CONFIRM,
                "privacy.forget.ask",
                choices=self._choices,
                prompt_params={"parts": self._parts(language)},
            )
        ]

    def _parts(self, language: str) -> Markup:
        catalogue = self.services.catalogue
        labels = sorted(part_label(self.services, language, name) for name in self.services.privacy.names())
        return Markup.join(
            catalogue.fragment(language, "privacy.forget.part_line", part=label) for label in labels
        )

    async def finish(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        if not completed or answers.get(CONFIRM) != YES:
            await ctx.reply("privacy.forget.cancelled")
            return
        removed = await self.services.privacy.erase_all(ctx.sender)
        lines = [
            ctx.fragment(
                "privacy.forget.done_line", part=part_label(self.services, ctx.language, name), count=count
            )
            for name, count in sorted(removed.items())
            if count
        ]
        if lines:
            await ctx.reply("privacy.forget.done", removed=Markup.join(lines))
        else:
            await ctx.reply("privacy.forget.done_nothing")
