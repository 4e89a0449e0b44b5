"""Structural rules of the command registry."""

from __future__ import annotations

import pytest

from bot.app import App
from bot.context import Context
from bot.errors import RegistryError
from bot.registry import Feature, Registry, command


class _One(Feature):
    name = "one"

    @command("groet", english="greet", aliases=["hallo"])
    async def greet(self, ctx: Context) -> None: ...


class _Clash(Feature):
    name = "clash"

    @command("zwaai", aliases=["hallo"])  # "hallo" is taken by _One
    async def wave(self, ctx: Context) -> None: ...


def test_duplicate_alias_fails_at_load(app: App) -> None:
    registry = Registry()
    registry.add_feature(_One(app.services))
    with pytest.raises(RegistryError, match="hallo"):
        registry.add_feature(_Clash(app.services))


def test_a_feature_loads_once(app: App) -> None:
    registry = Registry()
    registry.add_feature(_One(app.services))
    with pytest.raises(RegistryError):
        registry.add_feature(_One(app.services))


def test_commands_must_be_async() -> None:
    with pytest.raises(RegistryError):

        class _Sync(Feature):
            @command("sync")
            def sync(self, ctx: Context) -> None: ...  # type: ignore[arg-type]


def test_multi_word_names_resolve_longest_first(app: App) -> None:
    class _Buddy(Feature):
        name = "buddy"

        @command("buddy", english="buddy")
        async def overview(self, ctx: Context) -> None: ...

        @command("buddy zoek", english="buddy find")
        async def find(self, ctx: Context) -> None: ...

    registry = Registry()
    registry.add_feature(_Buddy(app.services))
    found = registry.resolve(["Buddy", "find", "beroep=AD"])
    assert found is not None and found[0].name == "buddy zoek" and found[1] == 2
    found = registry.resolve(["buddy"])
    assert found is not None and found[0].name == "buddy"


def test_loaded_commands_have_unique_names(app: App) -> None:
    names = [n for cmd in app.services.registry.commands for n in cmd.all_names()]
    assert len(names) == len(set(names))
