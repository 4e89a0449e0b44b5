"""The organisers' web page: an aiohttp application in the bot's own event loop.

It reads features only through their seams (accreditation's service, events through the
``AttendanceSource``), as a feature would. Nothing but the login link answers without a
session, and the member's role is asked again on every request."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.errors import UserError
from bot.ids import UserId
from commands.organiser_web.store import Session, WebStore

if TYPE_CHECKING:
    import jinja2

    from bot.services import Services
    from commands.accreditation.service import AccreditationService
    from commands.accreditation.sources import AttendanceSource

COOKIE = "kennisbrug_session"
HERE = Path(__file__).resolve().parent
SESSION_KEY: web.RequestKey[Session] = web.RequestKey("organiser_web.session", Session)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LANGUAGES = ("nl", "en")


class OrganiserWeb:
    def __init__(self, services: Services, store: WebStore) -> None:
        self.services = services
        self.store = store

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

    def accreditation(self) -> AccreditationService | None:
        feature = next((f for f in self.services.registry.features if f.name == "accreditation"), None)
        return getattr(feature, "service", None)

    def source(self) -> AttendanceSource | None:
        from commands.accreditation.sources import attendance_source

        return attendance_source(self.services.registry)

    async def may_use(self, user_id: str) -> bool:
        source = self.source()
        if source is not None and await source.may_organise(user_id):
            return True
        return await self.services.roles.is_moderator(UserId(user_id))

    # -- the application -----------------------------------------------------------------

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self.guard])
        app.router.add_get("/login/{token}", self.login)
        app.router.add_post("/logout", self.logout)
        app.router.add_get("/", self.events)
        app.router.add_get("/events/{id:\\d+}", self.event)
        app.router.add_post("/events/{id:\\d+}/attended", self.attended)
        app.router.add_get("/events/{id:\\d+}/presence.csv", self.presence_csv)
        app.router.add_static("/static", HERE / "static")
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

        def t(key: str, **params: Any) -> str:
            return catalogue.plain(language, f"organiser_web.{key}", **params)

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
        if request.path.startswith(("/login/", "/static/")):
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

    async def events(self, request: web.Request) -> web.StreamResponse:
        session = self.session(request)
        language = await self.language(request, session.user_id)
        source = self.source()
        now = self.services.clock.now()
        found = []
        if source is not None:
            found = await source.meetings_ending(now - timedelta(days=90), now + timedelta(days=365))
        zone = ZoneInfo(self.services.config.community.timezone)
        upcoming: list[dict[str, Any]] = []
        past: list[dict[str, Any]] = []
        for m in sorted(found, key=lambda m: m.starts_at):
            when = m.starts_at.astimezone(zone).strftime("%d-%m-%Y %H:%M")
            row = {"id": m.id, "title": m.title, "when": when}
            (upcoming if m.ends_at >= now else past).append(row)
        return self.page("events.html", language, upcoming=upcoming, past=past[::-1], csrf=session.csrf)

    async def event(self, request: web.Request) -> web.StreamResponse:
        session = self.session(request)
        language = await self.language(request, session.user_id)
        service = self.accreditation()
        if service is None:
            return await self.refused(request, "refused.no_accreditation")
        try:
            meeting = await service.meeting(int(request.match_info["id"]))
            attendees = await service.attendees(meeting, language)
        except UserError:
            raise web.HTTPNotFound() from None
        zone = ZoneInfo(self.services.config.community.timezone)
        rows = [
            {
                "user_id": a.user_id,
                "name": a.name,
                "checked_in": a.checked_in_at.astimezone(zone).strftime("%H:%M") if a.checked_in_at else "",
            }
            for a in attendees
        ]
        when = meeting.starts_at.astimezone(zone).strftime("%d-%m-%Y %H:%M")
        return self.page("event.html", language, meeting=meeting, when=when, rows=rows, csrf=session.csrf)

    async def attended(self, request: web.Request) -> web.StreamResponse:
        service = self.accreditation()
        if service is None:
            return await self.refused(request, "refused.no_accreditation")
        event_id = int(request.match_info["id"])
        user_id = str((await request.post()).get("user_id", "")).strip()
        if user_id.startswith("@") and ":" in user_id:
            try:
                await service.mark_attended(event_id, user_id)
            except UserError:
                raise web.HTTPNotFound() from None
        raise web.HTTPSeeOther(f"/events/{event_id}")

    async def presence_csv(self, request: web.Request) -> web.StreamResponse:
        session = self.session(request)
        language = await self.language(request, session.user_id)
        service = self.accreditation()
        if service is None:
            return await self.refused(request, "refused.no_accreditation")
        try:
            report = await service.presence_lists(
                int(request.match_info["id"]), language, exported_by=session.user_id
            )
        except UserError:
            raise web.HTTPNotFound() from None
        from commands.accreditation.service import slug

        name = f"presentie-{report.meeting.starts_at.date().isoformat()}-{slug(report.meeting.title)}.csv"
        return web.Response(
            text=report.csv,
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )
