"""Buddies: two-sided mentoring between members, matched one request at a time.

A member asks (``!buddy zoek``); the best available candidate gets a DM with a number
to accept or decline. No answer within the offer time, or a refusal, moves the request
to the next candidate; the requester hears that it moved on, never who said no. On
acceptance the bot makes a private room for the two, posts a first agenda, and checks
in through the nudge service after the configured weeks.

Check-ins: members answer ``!buddy checkin ja|nog niet|stop [nr]`` (English: yes, not
yet, stop). ``stop`` ends the pair as ``!buddy stop`` does.

Everything that must survive a restart is a row: offers carry their own timeout job
(``buddy:offer-timeout:<offer>``), pairs their check-in jobs
(``buddy:checkin:<pair>:<round>``), and every message that is not a direct answer goes
through the outbox with a transaction id made from the row's id. At start the feature
re-arms what a crash may have left half done (see :meth:`Buddy.start`).

The parts, each in its own module: commands in mixins (:mod:`~commands.buddy.availability`,
:mod:`~commands.buddy.requests`, :mod:`~commands.buddy.answers`, :mod:`~commands.buddy.pairs`,
:mod:`~commands.buddy.status`), and what they act through, sharing one
:class:`~commands.buddy.state.BuddyState`: matching rounds, the pair room, check-in jobs,
erasure and rendering.
"""

from __future__ import annotations

from bot.registry import Feature
from bot.scheduler.policy import MissedPolicy
from bot.services import Services
from commands.buddy.answers import AnswerCommands
from commands.buddy.availability import AvailabilityCommands
from commands.buddy.checkins import CHECKIN_KIND, CheckinJobs, checkin_job_id
from commands.buddy.erasure import BuddyErasure
from commands.buddy.flow import BuddyFindFlow
from commands.buddy.pairs import PairCommands
from commands.buddy.requests import RequestCommands
from commands.buddy.room import PairRooms
from commands.buddy.rounds import OFFER_TIMEOUT_KIND, MatchingRounds, offer_job_id
from commands.buddy.state import BuddyState
from commands.buddy.status import StatusCommands
from commands.buddy.text import BuddyText

__all__ = ["Buddy", "checkin_job_id", "offer_job_id"]


class Buddy(AvailabilityCommands, RequestCommands, AnswerCommands, PairCommands, StatusCommands, Feature):
    name = "buddy"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.state = BuddyState.build(services)
        self.text = BuddyText(self.state)
        self.checkins = CheckinJobs(self.state)
        self.rounds = MatchingRounds(self.state, self.text)
        self.rooms = PairRooms(self.state, self.text, self.checkins)
        self.erasure = BuddyErasure(self.state, self.rounds, self.checkins)

    def register(self) -> None:
        """Hook into the shared services: the find conversation, privacy, the two job kinds.
        Called once, by the package's ``setup``."""
        services = self.services
        services.conversations.register(BuddyFindFlow(services, self.finish_flow))
        services.privacy.register("buddy", self.store.export_member, self.erasure.erase_member)
        services.scheduler.register(OFFER_TIMEOUT_KIND, self.rounds.timed_out, MissedPolicy.always())
        services.scheduler.register(CHECKIN_KIND, self.checkins.due, MissedPolicy.always())

    async def start(self) -> None:
        """Finish what a stop may have interrupted (pairs first, then offers and
        requests); every step is idempotent."""
        await self.rooms.resume()
        await self.rounds.resume()
