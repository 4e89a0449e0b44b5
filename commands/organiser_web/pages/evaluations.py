"""Evaluations per meeting, grouped by profession with the average rating of each:
organisers see the meetings they organise, moderators every meeting. Read through the
events feature's :class:`~commands.organiser_web.page_sources.EvaluationSource`."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from aiohttp import web
from babel.numbers import format_decimal

from commands.organiser_web.page_sources import EvaluationSource, evaluation_source
from commands.organiser_web.pages.access import is_moderator
from commands.organiser_web.web import NavLink, OrganiserWeb


def average(value: float | None, language: str) -> str:
    """Like 3,7 in Dutch and 3.7 in English; empty when nobody gave a rating."""
    return "" if value is None else format_decimal(value, format="0.0", locale=language)


class EvaluationPages:
    def __init__(self, site: OrganiserWeb) -> None:
        self.site = site

    def source(self) -> EvaluationSource | None:
        return evaluation_source(self.site.services.registry)

    async def index(self, request: web.Request) -> web.StreamResponse:
        site = self.site
        session = site.session(request)
        language = await site.language(request, session.user_id)
        source = self.source()
        if source is None:
            return await site.refused(request, "refused.no_events")
        moderator = await is_moderator(site, request)
        # Moderators see every meeting; an organiser the meetings they organise.
        meetings = await source.evaluated_meetings(None if moderator else session.user_id)
        zone = ZoneInfo(site.services.config.community.timezone)
        rows = [
            {
                "id": m.id,
                "title": m.title,
                "when": m.starts_at.astimezone(zone).strftime("%d-%m-%Y %H:%M"),
                "count": m.evaluations,
            }
            for m in meetings
        ]
        return site.page(
            "evaluations.html",
            language,
            rows=rows,
            csrf=session.csrf,
            moderator=moderator,
            here="evaluations",
        )

    async def meeting(self, request: web.Request) -> web.StreamResponse:
        site = self.site
        session = site.session(request)
        language = await site.language(request, session.user_id)
        source = self.source()
        if source is None:
            return await site.refused(request, "refused.no_events")
        summary = await source.evaluation_summary(int(request.match_info["id"]), language)
        if summary is None:
            raise web.HTTPNotFound()
        moderator = await is_moderator(site, request)
        if not moderator and summary.meeting.organiser != session.user_id:
            return await site.refused(request, "refused.not_yours")
        zone = ZoneInfo(site.services.config.community.timezone)
        groups = [
            {
                "profession": g.profession,
                "count": g.count,
                "average": average(g.average, language),
                "ratings": g.ratings,
                "answers": [
                    ("worked", g.worked),
                    ("not_worked", g.not_worked),
                    ("tips", g.tips),
                ],
            }
            for g in summary.groups
        ]
        return site.page(
            "evaluation.html",
            language,
            meeting=summary.meeting,
            when=summary.meeting.starts_at.astimezone(zone).strftime("%d-%m-%Y %H:%M"),
            total=average(summary.average, language),
            groups=groups,
            csrf=session.csrf,
            moderator=moderator,
            here="evaluations",
        )


def register(app: web.Application, site: OrganiserWeb) -> Sequence[NavLink]:
    pages = EvaluationPages(site)
    app.router.add_get("/evaluations", pages.index)
    app.router.add_get("/evaluations/{id:\\d+}", pages.meeting)
    return [NavLink("/evaluations", "nav.evaluations")]
