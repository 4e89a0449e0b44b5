"""The feed's one route on the organisers' web app: ``/agenda/<token>.ics``.

A calendar app cannot log in, so the secret token in the path is the only key: the web
app's session guard lets exactly this route through (:func:`is_feed`), and an unknown,
replaced or revoked token gets the same 404 as any wrong address."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bot.ids import UserId
from commands.calendar_feed.ics import CONTENT_TYPE, build_feed
from commands.calendar_feed.paths import PREFIX, ROUTE
from commands.calendar_feed.sources import signup_source

if TYPE_CHECKING:
    from bot.services import Services
    from commands.calendar_feed.store import FeedStore


def register(app: web.Application, services: Services) -> None:
    """Add the feed's route to the web app (called by the web app as it is built)."""
    app.router.add_get(PREFIX + "{token:[A-Za-z0-9_-]{16,128}}.ics", FeedPage(services).serve, name=ROUTE)


def is_feed(request: web.Request) -> bool:
    """Whether the request was routed to the feed (the one page without a session)."""
    route = request.match_info.route
    return route is not None and route.name == ROUTE


class FeedPage:
    def __init__(self, services: Services) -> None:
        self.services = services

    def _store(self) -> FeedStore | None:
        feature = next((f for f in self.services.registry.features if f.name == "calendar_feed"), None)
        return getattr(feature, "store", None)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        store = self._store()
        user_id = await store.member_of(request.match_info["token"]) if store is not None else None
        if user_id is None:
            raise web.HTTPNotFound()
        source = signup_source(self.services.registry)
        events = await source.signed_up(user_id) if source is not None else []
        language = await self.services.members.language_of(UserId(user_id))
        catalogue = self.services.catalogue
        body = build_feed(
            events,
            timezone=self.services.config.community.timezone,
            name=catalogue.plain(language, "calendar_feed.calendar_name"),
            waiting_label=catalogue.plain(language, "calendar_feed.waiting"),
            now=self.services.clock.now(),
        )
        return web.Response(
            body=body,
            content_type=CONTENT_TYPE,
            charset="utf-8",
            headers={
                "Content-Disposition": 'inline; filename="agenda.ics"',
                # Personal: no shared cache keeps it, and no page it links to learns the URL.
                "Cache-Control": "private, no-store",
                "Referrer-Policy": "no-referrer",
            },
        )
