"""Who may open which page, asked again on every request (the session guard already let
in only organisers and moderators): some pages are for moderators alone, as their
commands are in the chat."""

from __future__ import annotations

from functools import wraps
from typing import TYPE_CHECKING

from bot.ids import UserId

if TYPE_CHECKING:
    from aiohttp import web

    from commands.organiser_web.web import Handler, OrganiserWeb


async def is_moderator(site: OrganiserWeb, request: web.Request) -> bool:
    return await site.services.roles.is_moderator(UserId(site.session(request).user_id))


def moderators_only(site: OrganiserWeb, handler: Handler) -> Handler:
    """The handler, for moderators; organisers get the refusal page."""

    @wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        if not await is_moderator(site, request):
            return await site.refused(request, "refused.moderators")
        return await handler(request)

    return guarded
