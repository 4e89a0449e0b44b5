"""The event's scheduled jobs: reminders before it (one job kind per offset) and the
evaluation invitation after it; planned when it is announced or moved, rebuilt at start.

Job kinds, job ids and transaction ids are stored: they must not change between
versions, or jobs planned before an upgrade would find no handler."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.ids import RoomId, UserId
from bot.scheduler.policy import MissedPolicy
from bot.services import Services
from commands.events.flow import EVALUATION_FLOW, EVENT_ID, KNOWN_PROFESSION
from commands.events.planning import to_utc
from commands.events.records import EventRecord
from commands.events.rendering import Rendering
from commands.events.settings import EventSettings, ReminderOffset
from commands.events.store import ANNOUNCED, GOING, EventStore
from commands.introductions.store import ProfileStore

log = logging.getLogger(__name__)

REMIND_KIND = "events.remind"
EVALUATE_KIND = "events.evaluate"
EVALUATION_LATE = timedelta(days=7)
# A reminder is prepared this long before it is due and leaves the outbox when due,
# so the member gets it on time rather than a database round trip later.
REMINDER_LEAD = timedelta(seconds=2)


def remind_job_id(event_id: int, offset: ReminderOffset) -> str:
    return f"events:remind:{event_id}:{offset.label}"


def evaluate_job_id(event_id: int) -> str:
    return f"events:evaluate:{event_id}"


def reminder_time(starts_at: datetime, offset: ReminderOffset, timezone: str) -> datetime:
    """When a reminder is due. Whole days and weeks count on the wall clock ("a week
    before, same time"), also across a daylight-saving change; hours and minutes are
    exact durations."""
    if offset.label[-1] in ("d", "w"):
        wall = starts_at.astimezone(ZoneInfo(timezone)).replace(tzinfo=None) - offset.delta
        return to_utc(wall.date(), wall.time(), timezone)
    return starts_at - offset.delta


def short_hash(text: str) -> str:
    """A short stable stand-in for a Matrix id inside a transaction id."""
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class Jobs:
    def __init__(
        self,
        services: Services,
        settings: EventSettings,
        store: EventStore,
        profiles: ProfileStore,
        rendering: Rendering,
    ) -> None:
        self.services = services
        self.settings = settings
        self.timezone = services.config.community.timezone
        self.store = store
        self.profiles = profiles
        self.rendering = rendering

    def register(self) -> None:
        """Tell the scheduler which handler runs each job kind (before it starts)."""
        # One job kind per offset: a reminder is still worth sending while the event has
        # not started, so an offset's job may run at most that offset late.
        for offset in self.settings.reminders:
            self.services.scheduler.register(
                f"{REMIND_KIND}.{offset.label}", self.remind, MissedPolicy.within(offset.delta)
            )
        self.services.scheduler.register(EVALUATE_KIND, self.evaluate, MissedPolicy.within(EVALUATION_LATE))

    # -- planning --------------------------------------------------------------------

    def plan(self, event_id: int, starts_at: datetime, ends_at: datetime) -> dict[str, tuple[str, datetime]]:
        """Every job an announced event needs: job id -> (kind, run_at)."""
        jobs: dict[str, tuple[str, datetime]] = {}
        for offset in self.settings.reminders:
            jobs[remind_job_id(event_id, offset)] = (
                f"{REMIND_KIND}.{offset.label}",
                reminder_time(starts_at, offset, self.timezone) - REMINDER_LEAD,
            )
        if self.settings.evaluation_enabled:
            jobs[evaluate_job_id(event_id)] = (EVALUATE_KIND, self._evaluation_moment(ends_at))
        return jobs

    def _evaluation_moment(self, ends_at: datetime) -> datetime:
        local_day = ends_at.astimezone(ZoneInfo(self.timezone)).date()
        day = local_day + timedelta(days=self.settings.evaluation_days_after)
        moment = to_utc(day, self.settings.evaluation_time, self.timezone)
        return max(moment, ends_at)

    async def rebuild(self) -> int:
        """Make sure every announced event has its jobs; returns how many were added.

        The jobs' rows are the truth and the scheduler arms them at start; this only
        adds what is missing (an event announced just before a crash), all in one
        transaction."""
        now = self.services.clock.now()
        planned = [
            (job_id, kind, run_at, {"event": event_id})
            for event_id, starts_at, ends_at in await self.store.schedule_rows(now)
            for job_id, (kind, run_at) in self.plan(event_id, starts_at, ends_at).items()
            if run_at > now
        ]
        added = await self.services.scheduler.schedule_many(planned)
        if added:
            log.info("events: %d missing job(s) scheduled", added)
        return added

    async def schedule(self, event: EventRecord) -> None:
        """(Re)schedule an event's reminders and evaluation from its current times."""
        now = self.services.clock.now()
        for job_id, (kind, run_at) in self.plan(event.id, event.starts_at, event.ends_at).items():
            if run_at > now:
                await self.services.scheduler.schedule_once(job_id, kind, run_at, {"event": event.id})
            else:
                await self.services.scheduler.cancel(job_id)

    async def unschedule(self, event: EventRecord) -> None:
        for job_id in self.plan(event.id, event.starts_at, event.ends_at):
            await self.services.scheduler.cancel(job_id)

    # -- reminders -------------------------------------------------------------------

    async def remind(self, job_id: str, payload: dict[str, Any]) -> None:
        """Send one offset's reminder to everyone going (reminders on), in their language."""
        event = await self.store.get(int(payload["event"]))
        if event is None or event.status != ANNOUNCED:
            return
        due = self._reminder_due(job_id, event)
        if due is None:
            return
        going = await self.store.going_with_reminders(event.id)
        label = job_id.rsplit(":", 1)[1]
        stamp = int(event.starts_at.timestamp())
        txn = {UserId(r.user_id): f"ev.remind.{event.id}.{label}.{r.id}.{stamp}" for r in going}
        # Rendered once per language and queued in one write; a retry of the job adds
        # whoever a failure left out (the transaction ids make the repeat harmless).
        await self.services.members.tell_many(
            list(txn),
            "events.reminder",
            txn_id=lambda user: txn[user],
            due_at=due,
            title=event.title,
            when=lambda language: self.rendering.when(event, language),
            where=lambda language: self.rendering.where(event, language),
            until=lambda language: self.rendering.until(event, language),
            id=event.id,
        )
        log.info("reminder %s queued for %d member(s)", job_id, len(going))

    def _reminder_due(self, job_id: str, event: EventRecord) -> datetime | None:
        """When this reminder should leave the outbox, or None when it is not to go."""
        label = job_id.rsplit(":", 1)[1]
        now = self.services.clock.now()
        if now >= event.starts_at:
            log.warning("reminder %s missed: event %d has started", job_id, event.id)
            return None
        offset = next((o for o in self.settings.reminders if o.label == label), None)
        closer = [
            o
            for o in self.settings.reminders
            if offset is not None
            and o.delta < offset.delta
            and reminder_time(event.starts_at, o, self.timezone) - REMINDER_LEAD <= now
        ]
        if closer:
            # Late (the bot was down), and a nearer reminder is due too: that one goes.
            log.warning("reminder %s skipped: reminder %s is due as well", job_id, closer[0].label)
            return None
        due = reminder_time(event.starts_at, offset, self.timezone) if offset else now
        late = now - due
        if late > timedelta(seconds=60):
            log.info("reminder %s is sent late (%ds after it was due)", job_id, int(late.total_seconds()))
        return max(due, now)

    # -- evaluation ------------------------------------------------------------------

    async def evaluate(self, job_id: str, payload: dict[str, Any]) -> None:
        """The day after: every attendee gets the evaluation in their DM."""
        event = await self.store.get(int(payload["event"]))
        if event is None or event.status != ANNOUNCED:
            return
        attendees = await self.store.attendees(event.id)
        if not attendees:
            # No attendance recorded: those who were going are asked.
            attendees = [r.user_id for r in await self.store.rsvps(event.id) if r.status == GOING]
        for user_id in attendees:
            await self._invite_evaluation(event, UserId(user_id))

    async def _invite_evaluation(self, event: EventRecord, user: UserId) -> None:
        catalogue = self.services.catalogue
        room = await self.services.members.direct_room(user)
        opened = await self._open_evaluation(event, user, room)
        await self.services.members.tell(
            user,
            "events.evaluation.invite" if opened else "events.evaluation.invite_later",
            txn_id=f"ev.evaluate.{event.id}.{short_hash(user)}",
            title=event.title,
            id=event.id,
            question=lambda language: catalogue.fragment(language, "events.evaluation.ask.worked"),
        )

    async def _open_evaluation(self, event: EventRecord, user: UserId, room: RoomId) -> bool:
        """Open the evaluation conversation in the member's DM, unless they are in the
        middle of another one (then they are invited to ``!evaluatie`` later)."""
        from sqlalchemy.exc import IntegrityError

        from bot.storage.models import Conversation

        profile = await self.profiles.get(user)
        answers: dict[str, Any] = {EVENT_ID: event.id}
        if profile is not None:
            answers["profession"] = profile.profession
            answers[KNOWN_PROFESSION] = True
        try:
            async with self.services.db.transaction() as session:
                if await session.get(Conversation, user) is not None:
                    return False
                self.services.conversations.open_in(session, user, EVALUATION_FLOW, room, answers)
        except IntegrityError:
            return False
        return True
