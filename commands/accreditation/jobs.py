"""The jobs after a meeting: certificates the day after, and reminders to the organiser
when the presence was not exported within 7 days and again at 6 weeks (the registers
take presence until about two months after).

The database is the truth: a daily planning job (and every start) makes sure each
accredited meeting that ends soon or ended lately has its jobs; job ids are
deterministic, so planning twice adds nothing. Job kinds and ids are stored: they must
not change between versions."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Any

from bot.ids import UserId
from bot.scheduler import MissedPolicy
from bot.transport import Attachment
from commands.accreditation.service import AccreditationService
from commands.accreditation.sources import Meeting

log = logging.getLogger(__name__)

CERTIFICATES_KIND = "accreditation.certificates"
EXPORT_REMINDER_KIND = "accreditation.export_reminder"
PLAN_KIND = "accreditation.plan"
PLAN_JOB_ID = "accreditation:plan"
PLAN_CRON = "15 6 * * *"
REMINDERS = (("7d", timedelta(days=7)), ("6w", timedelta(weeks=6)))
# How far ahead and back planning looks: meetings announced a year ahead, and those that
# ended up to 6 weeks ago (their last reminder).
AHEAD = timedelta(days=400)
BACK = timedelta(weeks=6, days=1)
PDF = "application/pdf"
# How late a job may still run (also how late planning still adds it: the daily planning
# may come after the moment, for a meeting marked by hand and never checked in to).
LATENESS = {
    "accreditation.certificates": timedelta(days=7),
    "accreditation.export_reminder": timedelta(days=14),
}


def certificates_job_id(event_id: int) -> str:
    return f"accreditation:certificates:{event_id}"


def reminder_job_id(event_id: int, label: str) -> str:
    return f"accreditation:export:{event_id}:{label}"


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class AccreditationJobs:
    def __init__(self, service: AccreditationService) -> None:
        self.service = service
        self.services = service.services

    def register(self) -> None:
        scheduler = self.services.scheduler
        scheduler.register(
            CERTIFICATES_KIND, self.send_certificates, MissedPolicy.within(LATENESS[CERTIFICATES_KIND])
        )
        scheduler.register(
            EXPORT_REMINDER_KIND, self.remind_export, MissedPolicy.within(LATENESS[EXPORT_REMINDER_KIND])
        )
        scheduler.register(PLAN_KIND, self.planning_job, MissedPolicy.always())

    async def start(self) -> None:
        await self.services.scheduler.schedule_cron(PLAN_JOB_ID, PLAN_KIND, PLAN_CRON)
        await self.plan_all()

    def plan(self, meeting: Meeting) -> list[tuple[str, str, Any, dict[str, Any]]]:
        """The jobs of one accredited meeting: (job id, kind, run at, payload)."""
        if not meeting.accreditation:
            return []
        payload: dict[str, Any] = {"event": meeting.id}
        jobs = [
            (
                certificates_job_id(meeting.id),
                CERTIFICATES_KIND,
                self.service.certificate_moment(meeting),
                payload,
            )
        ]
        for label, delay in REMINDERS:
            jobs.append(
                (
                    reminder_job_id(meeting.id, label),
                    EXPORT_REMINDER_KIND,
                    meeting.ends_at + delay,
                    payload | {"after": label},
                )
            )
        return jobs

    async def planning_job(self, job_id: str, payload: dict[str, Any]) -> None:
        await self.plan_all()

    async def plan_all(self) -> int:
        now = self.services.clock.now()
        source = self.service.source
        meetings = await source.meetings_ending(now - BACK, now + AHEAD)
        planned = [job for meeting in meetings for job in self.plan(meeting) if self._worth_planning(job)]
        added = await self.services.scheduler.schedule_many(planned)
        if added:
            log.info("accreditation: %d job(s) planned", added)
        return added

    async def plan_one(self, meeting: Meeting) -> None:
        await self.services.scheduler.schedule_many(
            [j for j in self.plan(meeting) if self._worth_planning(j)]
        )

    def _worth_planning(self, job: tuple[str, str, Any, dict[str, Any]]) -> bool:
        return bool(job[2] > self.services.clock.now() - LATENESS[job[1]])

    async def _still_due(self, job_id: str, kind: str, run_at: Any, payload: dict[str, Any]) -> bool:
        """False (and planned again) when the meeting moved and this job came too early."""
        if self.services.clock.now() + timedelta(minutes=1) < run_at:
            await self.services.scheduler.schedule_once(job_id, kind, run_at, payload)
            return False
        return True

    async def send_certificates(self, job_id: str, payload: dict[str, Any]) -> None:
        meeting = await self.service.source.meeting(int(payload["event"]))
        if meeting is None or not meeting.accreditation:
            return
        if not await self._still_due(
            job_id, CERTIFICATES_KIND, self.service.certificate_moment(meeting), payload
        ):
            return
        for attended in await self.service.source.attendance(meeting.id):
            user = UserId(attended.user_id)
            language = await self.services.members.language_of(user)
            filename, pdf = await self.service.certificate(meeting, user, language)
            await self.services.members.tell(
                user,
                "accreditation.certificate.sent",
                txn_id=f"acc.cert.{meeting.id}.{short_hash(user)}",
                title=meeting.title,
                files=[Attachment(pdf, filename, PDF)],
            )
        log.info("certificates of event %d sent", meeting.id)

    async def remind_export(self, job_id: str, payload: dict[str, Any]) -> None:
        meeting = await self.service.source.meeting(int(payload["event"]))
        if meeting is None or not meeting.accreditation or meeting.organiser is None:
            return
        label = str(payload.get("after", "7d"))
        delay = dict(REMINDERS).get(label, REMINDERS[0][1])
        if not await self._still_due(job_id, EXPORT_REMINDER_KIND, meeting.ends_at + delay, payload):
            return
        if await self.service.store.exported(meeting.id):
            return
        attended = await self.service.source.attendance(meeting.id)
        if not attended:
            return
        await self.services.members.tell(
            UserId(meeting.organiser),
            f"accreditation.reminder.{label}",
            txn_id=f"acc.export.{meeting.id}.{label}",
            title=meeting.title,
            id=meeting.id,
            count=len(attended),
        )
