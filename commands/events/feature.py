"""Events: announcements, sign-ups with a waitlist, reminders, calendar files,
attendance, accreditation and evaluations.

:class:`Events` is the feature the registry loads. Its commands come from the command
groups it is made of (one module each); the work behind them is done by the parts it
builds here. Building has no side effects: :meth:`Events.install` (called from
``setup``) registers the conversations, the privacy hook and the job kinds."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.ids import UserId
from bot.services import Services
from commands.digest.sources import DigestRequest, DigestSection
from commands.events.accreditation import AccreditationSource
from commands.events.calendar_source import CalendarFeedSource
from commands.events.cards import Cards
from commands.events.commands_attendance import AttendanceCommands
from commands.events.commands_change import ChangeCommands
from commands.events.commands_create import CreationCommands
from commands.events.commands_date_poll import DatePollCommands
from commands.events.commands_evaluation import EvaluationCommands
from commands.events.commands_listing import ListingCommands
from commands.events.commands_rsvp import RsvpCommands
from commands.events.evaluation_pages import EvaluationPages
from commands.events.flow import ConfirmFlow, CreateFlow, EvaluationFlow
from commands.events.jobs import Jobs
from commands.events.notify import Notify
from commands.events.reactions import ReactionListener
from commands.events.rendering import Rendering
from commands.events.settings import EventSettings
from commands.events.signups import SignUps
from commands.events.sources import Sources
from commands.events.store import EventStore
from commands.events.web_source import OrganiserWebSource
from commands.introductions.store import ProfileStore
from commands.stats.sources import StatCount

log = logging.getLogger(__name__)


class Events(
    CreationCommands,
    ChangeCommands,
    DatePollCommands,
    RsvpCommands,
    ListingCommands,
    AttendanceCommands,
    EvaluationCommands,
    ReactionListener,
    AccreditationSource,
    EvaluationPages,
    OrganiserWebSource,
    CalendarFeedSource,
):
    name = "events"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.settings = EventSettings.from_config(services.config)
        self.timezone = services.config.community.timezone
        self.store = EventStore(services.db, services.clock, services.transport.server_name)
        self.profiles = ProfileStore(services.db, services.clock)
        self.rendering = Rendering(services, self.timezone)
        self.cards = Cards(services, self.settings.room, self.store, self.rendering)
        self.notify = Notify(services, self.store, self.rendering)
        self.signups = SignUps(self.store, self.notify, self.cards)
        self.jobs = Jobs(services, self.settings, self.store, self.profiles, self.rendering)
        self.sources = Sources(services, self.store, self.profiles, self.rendering)

    def install(self) -> None:
        """Register what the core calls back: the conversations, the privacy hook and the
        job kinds (before the scheduler starts and arms stored jobs)."""
        conversations = self.services.conversations
        conversations.register(CreateFlow(self.services, self._finish_create))
        conversations.register(ConfirmFlow(self._finish_confirm, self.services.catalogue))
        conversations.register(EvaluationFlow(self.services, self._finish_evaluation))
        self.services.privacy.register("events", self.store.export_member, self.erase_member)
        self.jobs.register()

    async def start(self) -> None:
        if self.services.rooms.room_id(self.settings.room) is None:
            log.warning("no %r room is configured: events cannot be announced", self.settings.room)
        await self.rebuild_jobs()

    async def rebuild_jobs(self) -> int:
        return await self.jobs.rebuild()

    async def digest_sections(self, requests: Sequence[DigestRequest]) -> Mapping[str, DigestSection]:
        return await self.sources.digest_sections(requests)

    async def stats_counts(self, since: datetime, until: datetime) -> list[StatCount]:
        return await self.sources.stats_counts(since, until)

    async def erase_member(self, user_id: UserId) -> int:
        """The member's rows go; the places they held go to the waitlist."""
        removed, held_places = await self.store.erase_member(user_id)
        await self.signups.release(held_places)
        return removed


__all__ = ["Events"]
