"""The organisers' web page: an aiohttp application in the bot's own event loop.

This module is the shell: the session guard (with CSRF on every form), login and
logout, the language and :meth:`OrganiserWeb.page`. The pages themselves live in
``pages/``, one module each with a ``register(app, web)`` that adds its routes and
returns its links for the navigation. Pages read features only through their seams, as
a feature would. Nothing but the login link answers without a session, and the member's
role is asked again on every request."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from bot.ids import UserId
from commands.calendar_feed import web as calendar_feed
from commands.organiser_web.permission import may_use_web
from commands.organiser_web.store import Session, WebStore

if TYPE_CHECKING:
    import jinja2

    from bot.registry import Feature
    from bot.services import Services
    from commands.accreditation.sources import AttendanceSource

COOKIE = "kennisbrug_session"
HERE = Path(__file__).resolve().parent
SESSION_KEY: web.RequestKey[Session] = web.RequestKey("organiser_web.session", Session)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LANGUAGES = ("nl", "en")


@dataclass(frozen=True)
class NavLink:
    """A link in the page's navigation: the path and its text's catalogue key
    (``organiser_web.<key>``)."""

    path: str
    key: str
    #: Shown only on pages that know the visitor is a moderator, or do not say (the
    #: page itself refuses others politely).
    moderators_only: bool = False


class PageModule(Protocol):
    """A module of ``pages/``: adds its routes, returns its navigation links."""

    def register(self, app: web.Application, shell: OrganiserWeb) -> Sequence[NavLink]: ...


def page_modules() -> list[PageModule]:
    """The pages, in the navigation's order (a new page module is one line here)."""
    from commands.organiser_web.pages import casus, evaluations, events, stats

    return [events, evaluations, stats, casus]


class OrganiserWeb:
    def __init__(self, services: Services, store: WebStore) -> None:
        self.services = services
        self.store = store
        self.nav: tuple[NavLink, ...] = ()

    @cached_property
    def templates(self) -> jinja2.Environment:
        # jinja2 only once a page is served: most bots never switch the web page on,
        # and the import costs every start some 8 MB.
        import jinja2

        return jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    # -- seams ---------------------------------------------------------------------------

    def feature(self, name: str) -> Feature | None:
        """A loaded feature by name (None when it is switched off); pages reach its
        service through it."""
        return next((f for f in self.services.registry.features if f.name == name), None)

    def source(self) -> AttendanceSource | None:
        from commands.accreditation.sources import attendance_source

        return attendance_source(self.services.registry)

    async def may_use(self, user_id: str) -> bool:
        return await may_use_web(self.services, user_id)

    # -- the application -----------------------------------------------------------------

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self.guard])
        app.router.add_get("/login/{token}", self.login)
        app.router.add_post("/logout", self.logout)
        nav: list[NavLink] = []
        for module in page_modules():
            nav.extend(module.register(app, self))
        self.nav = tuple(nav)
        app.router.add_static("/static", HERE / "static")
        calendar_feed.register(app, self.services)
        return app

    async def language(self, request: web.Request, user_id: str | None) -> str:
        asked = request.query.get("lang")
        if asked in LANGUAGES:
            return asked
        if user_id is not None:
            return await self.services.members.language_of(UserId(user_id))
        return "nl"

    def page(self, name: str, language: str, status: int = 200, **values: Any) -> web.Response:
        catalogue = self.services.catalogue

        # A list of 200 events asks the same few texts hundreds of times ("20 of 20
        # places taken"): each text is formatted once per page.
        done: dict[tuple[str, tuple[tuple[str, Any], ...]], str] = {}

        def t(key: str, **params: Any) -> str:
            try:
                asked = (key, tuple(sorted(params.items())))
                found = done.get(asked)
            except TypeError:  # a value that cannot be a dict key: format it every time
                return catalogue.plain(language, f"organiser_web.{key}", **params)
            if found is None:
                found = done[asked] = catalogue.plain(language, f"organiser_web.{key}", **params)
            return found

        values.setdefault("nav", self.nav)
        html = self.templates.get_template(name).render(t=t, lang=language, **values)
        response = web.Response(text=html, content_type="text/html", status=status)
        # No caching of pages with members' names, and no framing by other sites.
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'none'"
        return response

    async def refused(self, request: web.Request, key: str) -> web.Response:
        language = await self.language(request, None)
        return self.page("refused.html", language, status=403, reason=key)

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(("/login/", "/static/")) or calendar_feed.is_feed(request):
            return await handler(request)
        token = request.cookies.get(COOKIE, "")
        session = await self.store.session(token) if token else None
        if session is None:
            return await self.refused(request, "refused.no_session")
        if not await self.may_use(session.user_id):
            return await self.refused(request, "refused.role")
        if request.method == "POST":
            form = await request.post()
            if not hmac.compare_digest(str(form.get("csrf", "")), session.csrf):
                return await self.refused(request, "refused.csrf")
        request[SESSION_KEY] = session
        return await handler(request)

    # -- routes --------------------------------------------------------------------------

    async def login(self, request: web.Request) -> web.StreamResponse:
        user_id = await self.store.use_link(request.match_info["token"])
        if user_id is None:
            return await self.refused(request, "refused.link")
        if not await self.may_use(user_id):
            return await self.refused(request, "refused.role")
        token, session = await self.store.new_session(user_id)
        response = web.Response(status=303, headers={"Location": "/"})
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="Strict",
            secure=self.services_secure(),
            max_age=int((session.expires_at - self.services.clock.now()).total_seconds()),
            path="/",
        )
        return response

    def services_secure(self) -> bool:
        from commands.organiser_web.settings import WebSettings

        return WebSettings.from_config(self.services.config).base_url.startswith("https://")

    async def logout(self, request: web.Request) -> web.StreamResponse:
        await self.store.end_session(request.cookies.get(COOKIE, ""))
        response = web.Response(status=303, headers={"Location": "/"})
        response.del_cookie(COOKIE, path="/")
        return response

    def session(self, request: web.Request) -> Session:
        return request[SESSION_KEY]
