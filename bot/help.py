"""Help texts generated from the registry and the catalogues, never written by hand."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.i18n import Catalogue
from bot.registry import Command

if TYPE_CHECKING:
    from bot.context import Context


def param_label(catalogue: Catalogue, language: str, name: str) -> str:
    """The member-facing name of a parameter (``core.param.<name>``), else its code name."""
    key = f"core.param.{name}"
    return catalogue.plain(language, key) if catalogue.has(key) else name


def usage(command: Command, catalogue: Catalogue, language: str, prefix: str) -> str:
    """``!buddy zoek [beroep=…]``: from the catalogue's ``usage`` if given, else the signature."""
    custom_key = f"{command.key}.usage"
    name = command.display_name(language)
    if catalogue.has(custom_key):
        return f"{prefix}{name} {catalogue.plain(language, custom_key)}".strip()
    parts = [
        # Options read as one bracketed group in the member's language: [beroep=… regio=…].
        f"[{param_label(catalogue, language, p.name)} …]"
        if p.kind == "options"
        else p.usage(param_label(catalogue, language, p.name))
        for p in command.params
    ]
    return " ".join([f"{prefix}{name}", *parts])


def summary(command: Command, catalogue: Catalogue, language: str) -> str:
    return catalogue.plain(language, f"{command.key}.summary")


async def may_run(ctx: Context, command: Command, verdicts: dict[object, bool] | None = None) -> bool:
    """True when the sender's role lets them run the command (somewhere).

    ``verdicts`` remembers each check's answer for this one context: the overview asks
    it of every command, and most commands share the same few role checks (each one a
    look at the roles), so one overview asks each check once."""
    from bot.command_checks import is_place_check
    from bot.errors import CheckFailure

    for predicate in command.checks:
        if is_place_check(predicate):
            continue
        known = verdicts.get(predicate) if verdicts is not None else None
        if known is None:
            try:
                await predicate(ctx)
                known = True
            except CheckFailure:
                known = False
            if verdicts is not None:
                verdicts[predicate] = known
        if not known:
            return False
    return True


def dm_only_command(command: Command) -> bool:
    from bot.command_checks import dm_only

    return dm_only in command.checks
