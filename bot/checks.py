"""Checks: small predicates a command declares; they raise :class:`CheckFailure`.

``!help`` runs the same checks to show each member only what they may run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.errors import CheckFailure

if TYPE_CHECKING:
    from bot.context import Context


async def admin_only(ctx: Context) -> None:
    """Only community admins (config or power level)."""
    if not await ctx.services.roles.is_admin(ctx.sender, ctx.room_id):
        raise CheckFailure("core.check.admin_only")


async def moderator_only(ctx: Context) -> None:
    """Moderators and admins."""
    if not await ctx.services.roles.is_moderator(ctx.sender, ctx.room_id):
        raise CheckFailure("core.check.moderator_only")


async def dm_only(ctx: Context) -> None:
    """Personal matters go to a direct chat, not a community room."""
    if not ctx.is_direct:
        raise CheckFailure("core.check.dm_only")


async def room_only(ctx: Context) -> None:
    """Commands that act on the room they are given in."""
    if ctx.is_direct:
        raise CheckFailure("core.check.room_only")


def in_room(*logical_names: str) -> object:
    """Only in the named community rooms (``events``, ``theme:*`` for any theme room)."""

    async def predicate(ctx: Context) -> None:
        name = ctx.services.rooms.name_of(ctx.room_id) or ""
        for wanted in logical_names:
            if name == wanted or (wanted.endswith("*") and name.startswith(wanted[:-1])):
                return
        raise CheckFailure("core.check.wrong_room")

    return predicate
