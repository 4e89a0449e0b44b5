"""What the buddy command groups share. Each group is a mixin of :class:`Buddy`, so the
registry finds every command on the one feature; the parts they use are set by it."""

from __future__ import annotations

from bot.services import Services
from commands.buddy.checkins import CheckinJobs
from commands.buddy.room import PairRooms
from commands.buddy.rounds import MatchingRounds
from commands.buddy.settings import BuddySettings
from commands.buddy.state import BuddyState
from commands.buddy.store import BuddyStore
from commands.buddy.text import BuddyText
from commands.introductions.store import ProfileStore


class BuddyCommands:
    services: Services
    state: BuddyState
    text: BuddyText
    rounds: MatchingRounds
    rooms: PairRooms
    checkins: CheckinJobs

    @property
    def settings(self) -> BuddySettings:
        return self.state.settings

    @property
    def store(self) -> BuddyStore:
        return self.state.store

    @property
    def profiles(self) -> ProfileStore:
        return self.state.profiles
