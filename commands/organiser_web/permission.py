"""Who may use the organisers' web page: an organiser of a meeting, or a moderator.

Its own module because every ``!help`` asks it (the ``!beheer`` line is shown only to
those who may use it), and that must not load the web server (aiohttp's server side,
the pages) into a bot whose web page is off."""

from __future__ import annotations

from bot.ids import UserId
from bot.services import Services


async def may_use_web(services: Services, user_id: str) -> bool:
    from commands.accreditation.sources import attendance_source

    source = attendance_source(services.registry)
    if source is not None and await source.may_organise(user_id):
        return True
    return await services.roles.is_moderator(UserId(user_id))
