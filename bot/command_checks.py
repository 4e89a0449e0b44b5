"""Checks: small predicates a command declares; they raise :class:`CheckFailure`.

``!help`` runs the same checks to show each member only what they may run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from bot.errors import CheckFailure
from bot.formatting import Markup

if TYPE_CHECKING:
    from bot.context import Context

F = TypeVar("F", bound=Callable[..., Any])


def place_check(predicate: F) -> F:
    """Mark a check that depends on *where* a command is given, not *who* gives it.

    ``!help`` lists such commands anyway (with a hint), because the member may run them
    elsewhere; role checks hide a command from those who may never run it.
    """
    predicate.__kennisbrug_place__ = True  # type: ignore[attr-defined]
    return predicate


def is_place_check(predicate: object) -> bool:
    return bool(getattr(predicate, "__kennisbrug_place__", False))


async def admin_only(ctx: Context) -> None:
    """Only community admins (config, or power in the space)."""
    if not await ctx.services.roles.is_admin(ctx.sender):
        raise CheckFailure("core.check.admin_only")


# A refusal names at most this many people to ask.
ASK_AT_MOST = 3


def whom_to_ask(ctx: Context) -> Markup:
    """Whom a member who may not run a moderator command can ask: the configured
    moderators (then admins), or moderators in general when none are named."""
    community = ctx.services.config.community
    people = list(dict.fromkeys([*community.moderators, *community.admins]))[:ASK_AT_MOST]
    if not people:
        return ctx.fragment("core.check.ask_someone")
    names = Markup.join([ctx.services.members.mention(ctx.language, p) for p in people], ", ")
    return ctx.fragment("core.check.ask_people", people=names)


async def moderator_only(ctx: Context) -> None:
    """Community moderators and admins (config, or power in the space)."""
    if not await ctx.services.roles.is_moderator(ctx.sender):
        raise CheckFailure("core.check.moderator_only", ask=whom_to_ask(ctx))


async def room_moderator_only(ctx: Context) -> None:
    """For actions on the room the command is typed in: community moderators, or the
    room's own moderators."""
    if not await ctx.services.roles.is_room_moderator(ctx.sender, ctx.room_id):
        raise CheckFailure("core.check.moderator_only", ask=whom_to_ask(ctx))


@place_check
async def dm_only(ctx: Context) -> None:
    """Personal matters go to a direct chat, not a community room."""
    if not ctx.is_direct:
        raise CheckFailure("core.check.dm_only")


@place_check
async def room_only(ctx: Context) -> None:
    """Commands that act on the room they are given in."""
    if ctx.is_direct:
        raise CheckFailure("core.check.room_only")


def in_room(*logical_names: str) -> object:
    """Only in the named community rooms (``events``, ``theme:*`` for any theme room)."""

    @place_check
    async def predicate(ctx: Context) -> None:
        name = ctx.services.rooms.name_of(ctx.room_id) or ""
        for wanted in logical_names:
            if name == wanted or (wanted.endswith("*") and name.startswith(wanted[:-1])):
                return
        raise CheckFailure("core.check.wrong_room")

    return predicate
