"""The casus moderation queue: the cases members brought in that wait, approved or
declined with a reason. The decision runs the casus feature's own path (the one
``!casus goedkeuren`` and ``!casus afwijzen`` take), so the member hears it by DM
exactly as from the chat. Moderators only. Read through
:class:`~commands.organiser_web.page_sources.CasusQueueSource`."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from commands.organiser_web.page_sources import CasusQueueSource, casus_queue_source
from commands.organiser_web.pages.access import moderators_only
from commands.organiser_web.web import NavLink, OrganiserWeb

NOTICES = ("approved", "declined", "gone", "no_reason")
"""What the queue says after a decision (``?approved=12`` and so on)."""


class CasusQueuePage:
    def __init__(self, site: OrganiserWeb) -> None:
        self.site = site

    def source(self) -> CasusQueueSource | None:
        return casus_queue_source(self.site.services.registry)

    async def queue(self, request: web.Request) -> web.StreamResponse:
        site = self.site
        session = site.session(request)
        language = await site.language(request, session.user_id)
        source = self.source()
        if source is None:
            return await site.refused(request, "refused.no_casus")
        notice = next(
            ((name, request.query[name]) for name in NOTICES if request.query.get(name, "").isdigit()),
            None,
        )
        return site.page(
            "casus.html",
            language,
            cases=await source.waiting_cases(language),
            notice=notice,
            csrf=session.csrf,
            moderator=True,
            here="casus",
        )

    async def decide(self, request: web.Request) -> web.StreamResponse:
        site = self.site
        language = await site.language(request, site.session(request).user_id)
        source = self.source()
        if source is None:
            return await site.refused(request, "refused.no_casus")
        submission_id = int(request.match_info["id"])
        if request.match_info["decision"] == "approve":
            outcome = "approved" if await source.approve_case(submission_id) else "gone"
        else:
            reason = str((await request.post()).get("reason", "")).strip()
            if not reason:
                outcome = "no_reason"
            else:
                outcome = "declined" if await source.decline_case(submission_id, reason) else "gone"
        # After a POST, a GET: reloading the queue never decides twice.
        raise web.HTTPSeeOther(f"/casus?{outcome}={submission_id}&lang={language}")


def register(app: web.Application, site: OrganiserWeb) -> Sequence[NavLink]:
    page = CasusQueuePage(site)
    app.router.add_get("/casus", moderators_only(site, page.queue))
    app.router.add_post("/casus/{id:\\d+}/{decision:approve|decline}", moderators_only(site, page.decide))
    return [NavLink("/casus", "nav.casus", moderators_only=True)]
