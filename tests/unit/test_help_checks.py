"""The overview asks every command's role checks; each check is asked once per overview."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from bot.errors import CheckFailure
from bot.help import may_run


async def test_one_overview_asks_each_check_once_and_remembers_a_refusal() -> None:
    asked: list[str] = []

    async def member(ctx: Any) -> None:
        asked.append("member")

    async def moderator(ctx: Any) -> None:
        asked.append("moderator")
        raise CheckFailure("core.check.moderator")

    commands: list[Any] = [SimpleNamespace(checks=[member]) for _ in range(5)]
    commands += [SimpleNamespace(checks=[member, moderator]) for _ in range(5)]
    verdicts: dict[object, bool] = {}
    allowed = [await may_run(None, cmd, verdicts) for cmd in commands]  # type: ignore[arg-type]
    assert allowed == [True] * 5 + [False] * 5
    assert asked == ["member", "moderator"]


async def test_without_memory_every_command_asks_again() -> None:
    asked: list[str] = []

    async def member(ctx: Any) -> None:
        asked.append("member")

    for _ in range(3):
        assert await may_run(None, SimpleNamespace(checks=[member]))  # type: ignore[arg-type]
    assert asked == ["member"] * 3
