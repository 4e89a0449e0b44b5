"""Test-only commands that break the bot on purpose; loaded through ``plugins:``.

* ``!crashtest <token>``: the first time only (a marker file named in the
  ``crash_test`` config section), the process dies with ``os._exit(137)``, either
  before replying (``mode: before``) or right after the reply went out
  (``mode: after``). Every later run, including the replay of the interrupted
  command, just answers.
* ``!traagantwoord <seconds> <token>``: answers after a delay, so a test can take the
  homeserver away between a command and its answer.

Answers reuse the catalogue key ``core.rooms.other.name``, whose text is only its
``{name}`` parameter: the test features need no catalogue of their own, and the
answers go through ``ctx.reply`` like every real command's.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from bot.context import Context
from bot.registry import Feature, command
from bot.services import Services

log = logging.getLogger(__name__)

ANSWER_KEY = "core.rooms.other.name"
CRASH_EXIT_CODE = 137
MAX_DELAY_S = 120.0


class FaultCommands(Feature):
    name = "reliability_faults"

    @command("crashtest", hidden=True)
    async def crashtest(self, ctx: Context, token: str) -> None:
        section = self.services.config.section("crash_test")
        marker_name = section.get("marker")
        mode = section.get("mode", "before")
        first = bool(marker_name) and not Path(str(marker_name)).exists()
        if first:
            Path(str(marker_name)).write_text(f"{ctx.message.event_id}\n", encoding="utf-8")
            log.warning("crash test: the process dies %s answering %s", mode, ctx.message.event_id)
            if mode == "before":
                os._exit(CRASH_EXIT_CODE)
        await ctx.reply(ANSWER_KEY, name=f"crashtest {token}")
        if first:
            os._exit(CRASH_EXIT_CODE)

    @command("traagantwoord", hidden=True)
    async def slow_answer(self, ctx: Context, seconds: float, token: str) -> None:
        await asyncio.sleep(min(max(seconds, 0.0), MAX_DELAY_S))
        await ctx.reply(ANSWER_KEY, name=f"slow {token}")


def setup(services: Services) -> list[Feature]:
    return [FaultCommands(services)]
