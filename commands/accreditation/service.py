"""What accreditation does, as functions of ids: the chat commands call them, and so can
a web page for organisers later (presence lists, the certificate ZIP, check-ins and
attendance marks). No Matrix, no replies here: values in, values and files out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.errors import UserError
from bot.i18n import format_date, format_time
from bot.services import Services
from commands.accreditation.codes import CodeState, Window, normalise
from commands.accreditation.documents import CertificateText, certificate_pdf, zip_of
from commands.accreditation.presence import Attendee, Presence, csv_text, duration_text, presence
from commands.accreditation.registers import named_in
from commands.accreditation.settings import AccreditationSettings
from commands.accreditation.sources import AttendanceSource, Meeting, attendance_source
from commands.accreditation.store import AccreditationStore, CodeRecord
from commands.introductions.store import ProfileStore

CSV_COLUMNS = ("naam", "beroep", "register", "nummer", "ingecheckt", "duur")


@dataclass(frozen=True)
class CheckinResult:
    meeting: Meeting
    new: bool
    at: datetime


@dataclass(frozen=True)
class PresenceReport:
    meeting: Meeting
    presence: Presence
    csv: str


def slug(text: str) -> str:
    """A file name part from a title (letters, digits and dashes)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:40] or "bijeenkomst"


def fallback_name(user_id: str) -> str:
    """A member who gave no name for certificates: their Matrix name, starting with a
    letter (a cell starting with ``@`` is a formula to a spreadsheet)."""
    return f"{user_id.lstrip('@').split(':', 1)[0]} ({user_id})"


class AccreditationService:
    def __init__(
        self,
        services: Services,
        settings: AccreditationSettings,
        store: AccreditationStore,
        profiles: ProfileStore,
    ) -> None:
        self.services = services
        self.settings = settings
        self.store = store
        self.profiles = profiles
        self.timezone = services.config.community.timezone

    @property
    def source(self) -> AttendanceSource:
        found = attendance_source(self.services.registry)
        if found is None:
            raise UserError("accreditation.error.no_events")
        return found

    async def meeting(self, event_id: int) -> Meeting:
        found = await self.source.meeting(event_id)
        if found is None:
            raise UserError("accreditation.error.not_found", id=event_id)
        return found

    # -- check-in ----------------------------------------------------------------------

    async def issue_code(self, event_id: int, by: str) -> tuple[Meeting, CodeRecord]:
        """A new code for the meeting, valid for its hours plus the margin."""
        meeting = await self.meeting(event_id)
        window = Window.around(meeting.starts_at, meeting.ends_at, self.settings.checkin_margin)
        if window.state(self.services.clock.now()) is CodeState.EXPIRED:
            raise UserError("accreditation.error.meeting_over", id=event_id)
        return meeting, await self.store.issue_code(meeting.id, window.opens, window.closes, by)

    async def check_in(self, user_id: str, typed: str) -> CheckinResult:
        """The member checks in with a code; a wrong, early or expired code is their error."""
        code = normalise(typed)
        found = await self.store.code(code) if code else None
        if found is None:
            raise UserError("accreditation.error.unknown_code", code=typed[:20])
        meeting = await self.meeting(found.event_id)
        state = Window(found.opens_at, found.closes_at).state(self.services.clock.now())
        if state is CodeState.EARLY:
            raise UserError(
                "accreditation.error.code_early",
                title=meeting.title,
                opens=found.opens_at.astimezone(ZoneInfo(self.timezone)).strftime("%H:%M"),
            )
        if state is CodeState.EXPIRED:
            raise UserError("accreditation.error.code_expired", title=meeting.title)
        new, at = await self.store.check_in(meeting.id, user_id)
        # Attendance is the events feature's: a check-in marks the member present there
        # (a repeat changes nothing on either side).
        await self.source.mark_attended(meeting.id, user_id)
        return CheckinResult(meeting, new, at)

    # -- presence ----------------------------------------------------------------------

    async def attendees(self, meeting: Meeting, language: str) -> list[Attendee]:
        attended = await self.source.attendance(meeting.id)
        return await self.people(meeting, [a.user_id for a in attended], language)

    async def people(self, meeting: Meeting, users: list[str], language: str) -> list[Attendee]:
        """These members as the presence lists know them (name for certificates,
        profession, check-in time, numbers), whether or not they were there: the rows of
        an attendance grid."""
        numbers = await self.store.numbers(users)
        names = await self.store.names(users)
        checkins = await self.store.checkins(meeting.id)
        professions = await self.profiles.professions_and_themes(users)
        return [
            Attendee(
                user_id=user,
                name=names.get(user) or fallback_name(user),
                profession=self._profession(professions.get(user, ("", ()))[0], language),
                checked_in_at=checkins.get(user),
                numbers=numbers.get(user, ()),
            )
            for user in users
        ]

    def _profession(self, key: str, language: str) -> str:
        found = self.services.professions.get(key) if key else None
        return found.label(language) if found is not None else ""

    async def presence_lists(
        self, event_id: int, language: str, *, exported_by: str | None = None
    ) -> PresenceReport:
        """The per-register lists and the CSV of one meeting; ``exported_by`` records that
        an organiser took them (the reminders stop)."""
        meeting = await self.meeting(event_id)
        report = self.presence_report(meeting, await self.attendees(meeting, language), language)
        if exported_by is not None:
            await self.store.mark_exported(meeting.id, exported_by)
        return report

    def presence_report(self, meeting: Meeting, attendees: list[Attendee], language: str) -> PresenceReport:
        """The lists and the CSV of attendees already read (a page that shows them does
        not read them twice)."""
        report = presence(attendees, named_in(meeting.accreditation))
        headers = {c: self.services.catalogue.plain(language, f"accreditation.csv.{c}") for c in CSV_COLUMNS}
        text = csv_text(report, headers, meeting.starts_at, meeting.ends_at, self.timezone)
        return PresenceReport(meeting, report, text)

    # -- certificates ------------------------------------------------------------------

    def certificate_text(self, meeting: Meeting, name: str, language: str) -> CertificateText:
        catalogue = self.services.catalogue
        zone = ZoneInfo(self.timezone)
        day = format_date(meeting.starts_at.astimezone(zone).date(), language, "EEEE d MMMM y")
        start, end = (format_time(t, language, self.timezone) for t in (meeting.starts_at, meeting.ends_at))
        hours = f"{start}–{end}"
        organiser = self.services.config.community.name
        rows: tuple[tuple[str, str], ...] = (
            ("event", meeting.title),
            ("date", f"{day}, {hours}"),
            (
                "duration",
                catalogue.plain(
                    language,
                    "accreditation.certificate.hours",
                    duration=duration_text(meeting.starts_at, meeting.ends_at),
                ),
            ),
            ("accreditation", meeting.accreditation or catalogue.plain(language, "accreditation.no_points")),
            ("organiser", organiser),
        )
        if meeting.place:
            rows = (*rows[:2], ("place", meeting.place), *rows[2:])
        return CertificateText(
            heading=catalogue.plain(language, "accreditation.certificate.heading"),
            intro=catalogue.plain(language, "accreditation.certificate.intro"),
            name=name,
            after_name=catalogue.plain(language, "accreditation.certificate.after_name"),
            rows=tuple((catalogue.plain(language, f"accreditation.certificate.{k}"), v) for k, v in rows),
            footer=catalogue.plain(
                language,
                "accreditation.certificate.footer",
                community=organiser,
                issued=format_date(self.services.clock.now().astimezone(zone).date(), language, "d MMMM y"),
            ),
            title=catalogue.plain(language, "accreditation.certificate.heading"),
        )

    async def certificate(self, meeting: Meeting, user_id: str, language: str) -> tuple[str, bytes]:
        """One member's certificate: (file name, PDF)."""
        name = (await self.store.names([user_id])).get(user_id) or fallback_name(user_id)
        pdf = certificate_pdf(self.certificate_text(meeting, name, language))
        return self.certificate_filename(meeting, language, name), pdf

    def certificate_filename(self, meeting: Meeting, language: str, name: str | None = None) -> str:
        base = self.services.catalogue.plain(language, "accreditation.certificate.filename")
        day = meeting.starts_at.astimezone(ZoneInfo(self.timezone)).date().isoformat()
        who = f"-{slug(name)}" if name else ""
        return f"{base}-{day}-{slug(meeting.title)}{who}.pdf"

    async def certificates_zip(self, event_id: int, language: str) -> tuple[str, bytes, int]:
        """Every attendee's certificate of one meeting in one ZIP: (name, data, count)."""
        meeting = await self.meeting(event_id)
        files = []
        for attendee in await self.attendees(meeting, language):
            files.append(await self.certificate(meeting, attendee.user_id, language))
        day = meeting.starts_at.astimezone(ZoneInfo(self.timezone)).date().isoformat()
        base = self.services.catalogue.plain(language, "accreditation.certificate.zipname")
        return f"{base}-{day}-{slug(meeting.title)}.zip", zip_of(files), len(files)

    # -- attendance marks (for a page with an attendance grid) ----------------------------

    async def mark_attended(self, event_id: int, user_id: str) -> bool:
        meeting = await self.meeting(event_id)
        return await self.source.mark_attended(meeting.id, user_id)

    async def unmark_attended(self, event_id: int, user_id: str) -> bool:
        """An organiser's correction: the member was not there after all (a check-in by
        code stays recorded, so its time can still be seen)."""
        meeting = await self.meeting(event_id)
        return await self.source.unmark_attended(meeting.id, user_id)

    def certificate_moment(self, meeting: Meeting) -> datetime:
        """The day after the meeting, at the configured local time."""
        zone = ZoneInfo(self.timezone)
        day = meeting.ends_at.astimezone(zone).date() + timedelta(days=1)
        return datetime.combine(day, self.settings.certificate_time, tzinfo=zone).astimezone(ZoneInfo("UTC"))
