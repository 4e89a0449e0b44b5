"""The ``!stats`` report for a period chosen by dates, with its two charts (the PNGs the
stats feature draws for the chat). Moderators only, as ``!stats`` is. Read through the
stats feature's :class:`~commands.organiser_web.page_sources.StatsReportSource`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.errors import UserError
from bot.i18n import format_date
from commands.organiser_web.page_sources import CHART_KINDS, StatsReportSource, stats_report_source
from commands.organiser_web.pages.access import moderators_only
from commands.organiser_web.web import NavLink, OrganiserWeb

DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y")
"""What the date field sends (ISO), and what someone types where it is a plain text box."""


class BadDate(ValueError):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def parse_day(text: str | None, default: date) -> date:
    """The day in the form field, the default when it is empty; :class:`BadDate` else."""
    value = (text or "").strip()
    if not value:
        return default
    for layout in DATE_FORMATS:
        try:
            return datetime.strptime(value, layout).date()
        except ValueError:
            continue
    raise BadDate(value[:20])


class StatsPage:
    def __init__(self, site: OrganiserWeb) -> None:
        self.site = site

    def source(self) -> StatsReportSource | None:
        return stats_report_source(self.site.services.registry)

    def period(self, request: web.Request, source: StatsReportSource) -> tuple[date, date]:
        first, last = source.default_period()
        return parse_day(request.query.get("from"), first), parse_day(request.query.get("to"), last)

    async def show(self, request: web.Request) -> web.StreamResponse:
        site = self.site
        session = site.session(request)
        language = await site.language(request, session.user_id)
        source = self.source()
        if source is None:
            return await site.refused(request, "refused.no_stats")
        first, last = source.default_period()
        values: dict[str, Any] = {
            "csrf": session.csrf,
            "moderator": True,
            "here": "stats",
            "since": request.query.get("from") or first.isoformat(),
            "until": request.query.get("to") or last.isoformat(),
            "error": None,
            "view": None,
        }
        try:
            since, until = self.period(request, source)
            values["view"] = await source.stats_view(since, until, language)
        except BadDate as bad:
            values["error"] = site.services.catalogue.plain(
                language, "organiser_web.stats.bad_date", value=bad.text
            )
        except UserError as refused:
            values["error"] = site.services.catalogue.plain(language, refused.key, **refused.params)
        if values["error"] is not None:
            return site.page("stats.html", language, status=400, **values)
        query = urlencode({"from": since.isoformat(), "to": until.isoformat(), "lang": language})
        values["since"], values["until"] = since.isoformat(), until.isoformat()
        values["period_from"] = format_date(since, language, "d MMMM y")
        values["period_until"] = format_date(until, language, "d MMMM y")
        values["charts"] = [(kind, f"/stats/{kind}.png?{query}") for kind in CHART_KINDS]
        return site.page("stats.html", language, **values)

    async def chart(self, request: web.Request) -> web.StreamResponse:
        site = self.site
        language = await site.language(request, site.session(request).user_id)
        source = self.source()
        kind = next((k for k in CHART_KINDS if k == request.match_info["kind"]), None)
        if source is None or kind is None:
            raise web.HTTPNotFound()
        try:
            since, until = self.period(request, source)
            png = await source.stats_chart(since, until, language, kind)
        except (BadDate, UserError):
            raise web.HTTPBadRequest() from None
        return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "no-store"})


def register(app: web.Application, site: OrganiserWeb) -> Sequence[NavLink]:
    page = StatsPage(site)
    app.router.add_get("/stats", moderators_only(site, page.show))
    app.router.add_get("/stats/{kind}.png", moderators_only(site, page.chart))
    return [NavLink("/stats", "nav.stats", moderators_only=True)]
