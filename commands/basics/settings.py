"""``!instellingen``: a member's own settings, asked one by one in a DM conversation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.conversations import Choice, Question

if TYPE_CHECKING:
    from bot.context import Context
    from bot.services import Services

FLOW_NAME = "core.settings"


class SettingsFlow:
    """Language, then whether the member wants non-urgent pings (digests, invitations)."""

    name = FLOW_NAME

    def __init__(self, services: Services) -> None:
        self.services = services

    def questions(self, answers: dict[str, Any]) -> Sequence[Question]:
        return [
            Question(
                "language",
                "core.settings.ask_language",
                choices=(
                    Choice("nl", label="Nederlands", aliases=("dutch", "nederlands", "nl")),
                    Choice("en", label="English", aliases=("engels", "english", "en")),
                ),
            ),
            Question(
                "nudges",
                "core.settings.ask_nudges",
                choices=(
                    Choice("yes", label_key="core.settings.yes", aliases=("ja", "yes", "j", "y")),
                    Choice("no", label_key="core.settings.no", aliases=("nee", "no", "n")),
                ),
            ),
        ]

    async def finish(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        if "language" in answers:
            await self.services.members.set_language(ctx.sender, answers["language"])
            ctx.language = answers["language"]
        if "nudges" in answers:
            await self.services.nudges.set_opt_out(ctx.sender, answers["nudges"] == "no")
        await ctx.reply("core.settings.saved" if completed else "core.settings.stopped")
