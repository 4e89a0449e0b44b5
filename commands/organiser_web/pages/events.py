"""The events pages: the list of events with their places and waitlist, one event with
its sign-ups, waitlist (move a member up) and attendance grid (tick and untick), and
its downloads (presence per register as plain text and CSV, the certificates' ZIP).

Sign-ups come through the events feature's :class:`SignUpSource`, attendance through
accreditation's :class:`AttendanceSource`, names, numbers, lists and certificates from
the accreditation service: no other feature's tables are read here."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.errors import UserError
from bot.i18n import format_date
from commands.accreditation.service import PresenceReport, slug
from commands.organiser_web.sources import EventSummary, SignUpSource, sign_up_source
from commands.organiser_web.web import NavLink, OrganiserWeb

if TYPE_CHECKING:
    from commands.accreditation.service import AccreditationService
    from commands.accreditation.sources import AttendanceSource

PAST_SHOWN = timedelta(days=90)
"""Past events stay listed this long (the registers want presence within two months)."""
AHEAD_SHOWN = timedelta(days=365)
NOTES = frozenset({"marked", "unmarked", "moved", "not_waiting", "bad_user", "no_certificates"})
"""The notes a redirect may ask the event page to show (anything else is ignored)."""


@dataclass(frozen=True)
class GridRow:
    user_id: str
    name: str
    checked_in: str
    present: bool
    # True for a member marked present without a place (a walk-in).
    without_place: bool


def register(app: web.Application, shell: OrganiserWeb) -> Sequence[NavLink]:
    pages = EventPages(shell)
    app.router.add_get("/", pages.events)
    app.router.add_get("/events/{id:\\d+}", pages.event)
    app.router.add_post("/events/{id:\\d+}/attended", pages.attended)
    app.router.add_post("/events/{id:\\d+}/absent", pages.absent)
    app.router.add_post("/events/{id:\\d+}/move-up", pages.move_up)
    app.router.add_get("/events/{id:\\d+}/presence.csv", pages.presence_csv)
    app.router.add_get("/events/{id:\\d+}/presence.txt", pages.presence_txt)
    app.router.add_get("/events/{id:\\d+}/certificates.zip", pages.certificates_zip)
    return [NavLink("/", "nav.events")]


@functools.lru_cache(maxsize=2048)
def _day(day: date, language: str) -> str:
    """``di 13 apr. 2027``; Babel takes a while, and a list shows hundreds of dates."""
    return format_date(day, language, "EEE d MMM y")


def _member(value: Any) -> str | None:
    """A Matrix user id from a form field, or None."""
    text = str(value or "").strip()
    return text if text.startswith("@") and ":" in text and len(text) <= 255 else None


def _attachment(body: bytes, name: str, content_type: str) -> web.Response:
    return web.Response(
        body=body,
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


class EventPages:
    def __init__(self, shell: OrganiserWeb) -> None:
        self.shell = shell
        self.zone = ZoneInfo(shell.services.config.community.timezone)

    # -- seams ---------------------------------------------------------------------------

    def sign_ups(self) -> SignUpSource:
        found = sign_up_source(self.shell.services.registry)
        if found is None:
            raise web.HTTPNotFound()
        return found

    def accreditation(self) -> AccreditationService | None:
        service: AccreditationService | None = getattr(self.shell.feature("accreditation"), "service", None)
        return service

    def attendance(self) -> AttendanceSource:
        found = self.shell.source()
        if found is None:
            raise web.HTTPNotFound()
        return found

    # -- helpers -------------------------------------------------------------------------

    def when(self, moment: datetime, language: str) -> str:
        local = moment.astimezone(self.zone)
        return f"{_day(local.date(), language)} {local:%H:%M}"

    def hours(self, event: EventSummary, language: str) -> str:
        return f"{self.when(event.starts_at, language)}–{event.ends_at.astimezone(self.zone):%H:%M}"

    def back(self, request: web.Request, note: str, anchor: str = "") -> web.HTTPSeeOther:
        lang = request.query.get("lang", "")
        query = f"?note={note}" + (f"&lang={lang}" if lang in ("nl", "en") else "")
        return web.HTTPSeeOther(f"/events/{request.match_info['id']}{query}{anchor}")

    # -- pages ---------------------------------------------------------------------------

    async def events(self, request: web.Request) -> web.StreamResponse:
        session = self.shell.session(request)
        language = await self.shell.language(request, session.user_id)
        now = self.shell.services.clock.now()
        found = await self.sign_ups().event_summaries(now - PAST_SHOWN, now + AHEAD_SHOWN)
        upcoming = [{"e": e, "when": self.hours(e, language)} for e in found if e.ends_at >= now]
        past = [{"e": e, "when": self.hours(e, language)} for e in found if e.ends_at < now][::-1]
        return self.shell.page("events.html", language, upcoming=upcoming, past=past, csrf=session.csrf)

    async def event(self, request: web.Request) -> web.StreamResponse:
        session = self.shell.session(request)
        language = await self.shell.language(request, session.user_id)
        service = self.accreditation()
        if service is None:
            return await self.shell.refused(request, "refused.no_accreditation")
        event_id = int(request.match_info["id"])
        signed = await self.sign_ups().event_sign_ups(event_id)
        if signed is None:
            raise web.HTTPNotFound()
        meeting = await service.meeting(event_id)
        present = [a.user_id for a in await self.attendance().attendance(event_id)]
        going = [s.user_id for s in signed.going]
        walk_ins = [u for u in present if u not in set(going)]
        waiting = [s.user_id for s in signed.waiting]
        people = {p.user_id: p for p in await service.people(meeting, going + walk_ins + waiting, language)}
        there = set(present)
        grid = [
            GridRow(
                user_id=user,
                name=people[user].name,
                checked_in=self._time(people[user].checked_in_at),
                present=user in there,
                without_place=user not in set(going),
            )
            for user in going + walk_ins
        ]
        queue = [{"user_id": s.user_id, "name": people[s.user_id].name} for s in signed.waiting]
        report = service.presence_report(meeting, [people[u] for u in present], language)
        note = request.query.get("note", "")
        return self.shell.page(
            "event.html",
            language,
            event=signed.event,
            when=self.hours(signed.event, language),
            accreditation=meeting.accreditation,
            grid=grid,
            waiting=queue,
            lists=report.presence.lists,
            without=[a.name for a in report.presence.without_number],
            note=note if note in NOTES else "",
            csrf=session.csrf,
        )

    def _time(self, moment: datetime | None) -> str:
        return moment.astimezone(self.zone).strftime("%H:%M") if moment is not None else ""

    # -- forms (the guard has checked the session, the role and the CSRF token) -----------

    async def attended(self, request: web.Request) -> web.StreamResponse:
        return await self._mark(request, present=True)

    async def absent(self, request: web.Request) -> web.StreamResponse:
        return await self._mark(request, present=False)

    async def _mark(self, request: web.Request, *, present: bool) -> web.StreamResponse:
        service = self.accreditation()
        if service is None:
            return await self.shell.refused(request, "refused.no_accreditation")
        user_id = _member((await request.post()).get("user_id"))
        if user_id is None:
            raise self.back(request, "bad_user", "#grid")
        event_id = int(request.match_info["id"])
        try:
            if present:
                await service.mark_attended(event_id, user_id)
            else:
                await service.unmark_attended(event_id, user_id)
        except UserError:
            raise web.HTTPNotFound() from None
        raise self.back(request, "marked" if present else "unmarked", "#grid")

    async def move_up(self, request: web.Request) -> web.StreamResponse:
        user_id = _member((await request.post()).get("user_id"))
        if user_id is None:
            raise self.back(request, "bad_user", "#waitlist")
        moved = await self.sign_ups().move_up(int(request.match_info["id"]), user_id)
        raise self.back(request, "moved" if moved else "not_waiting", "#waitlist")

    # -- downloads -----------------------------------------------------------------------

    async def presence_csv(self, request: web.Request) -> web.StreamResponse:
        report = await self._report(request)
        # With a byte order mark, as the chat sends it: spreadsheets then read UTF-8.
        return _attachment(report.csv.encode("utf-8-sig"), self._filename(report, "csv"), "text/csv")

    async def presence_txt(self, request: web.Request) -> web.StreamResponse:
        """One register's numbers, one a line: what PE-online's import takes."""
        report = await self._report(request)
        wanted = request.query.get("register", "")
        found = next((item for item in report.presence.lists if item.register == wanted), None)
        if found is None:
            raise web.HTTPNotFound()
        text = "\r\n".join(found.numbers) + "\r\n"
        return _attachment(text.encode("utf-8"), self._filename(report, "txt", found.register), "text/plain")

    def _filename(self, report: PresenceReport, extension: str, register: str = "") -> str:
        day = report.meeting.starts_at.astimezone(self.zone).date().isoformat()
        part = f"-{slug(register)}" if register else ""
        return f"presentie{part}-{day}-{slug(report.meeting.title)}.{extension}"

    async def _report(self, request: web.Request) -> PresenceReport:
        session = self.shell.session(request)
        language = await self.shell.language(request, session.user_id)
        service = self.accreditation()
        if service is None:
            raise web.HTTPNotFound()
        try:
            # Taking a list counts as exporting it: the reminders to export stop.
            return await service.presence_lists(
                int(request.match_info["id"]), language, exported_by=session.user_id
            )
        except UserError:
            raise web.HTTPNotFound() from None

    async def certificates_zip(self, request: web.Request) -> web.StreamResponse:
        session = self.shell.session(request)
        language = await self.shell.language(request, session.user_id)
        service = self.accreditation()
        if service is None:
            raise web.HTTPNotFound()
        try:
            name, data, count = await service.certificates_zip(int(request.match_info["id"]), language)
        except UserError:
            raise web.HTTPNotFound() from None
        if count == 0:
            raise self.back(request, "no_certificates")
        return _attachment(data, name, "application/zip")
