"""Insight for organisers: is cross-profession dialogue growing?

A listener counts replies and thread replies in community rooms where a member of one
profession answers a member of another (:mod:`commands.stats.recorder`): only day,
profession pair and kind of room are kept, never text or user ids.
"""

from __future__ import annotations

import logging

from bot.ids import UserId
from bot.registry import Feature, listener
from bot.services import Services
from bot.transport import IncomingMessage
from commands.introductions.store import ProfileStore
from commands.stats.recorder import InteractionRecorder
from commands.stats.sources import StatsSource

log = logging.getLogger(__name__)


class Stats(Feature):
    name = "stats"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.recorder = InteractionRecorder(services.db, services.clock, services.config.community.timezone)
        self.profiles = ProfileStore(services.db, services.clock)
        self.sources: list[StatsSource] = []
        services.privacy.register("stats", self._export, self._erase)

    async def start(self) -> None:
        self.sources = [f for f in self.services.registry.features if isinstance(f, StatsSource)]
        await self.recorder.prune()

    def room_kind(self, message: IncomingMessage) -> str | None:
        if message.is_direct:
            return None
        name = self.services.rooms.name_of(message.room_id)
        if name is None:
            return None
        return "theme" if name.startswith("theme:") else name

    @listener(IncomingMessage)
    async def on_message(self, message: IncomingMessage) -> None:
        """Count a reply to another member as an interaction between two professions."""
        if message.sender == self.services.transport.own_user_id:
            return
        kind = self.room_kind(message)
        if kind is None:
            return
        profile = await self.profiles.get(message.sender)
        if profile is None or not profile.profession:
            return
        await self.recorder.record(
            message.event_id,
            message.sender,
            profile.profession,
            kind,
            message.reply_to or message.thread_root,
            self.services.clock.now(),
        )

    async def _export(self, user_id: UserId) -> dict[str, int]:
        return await self.recorder.export_member(user_id)

    async def _erase(self, user_id: UserId) -> int:
        return await self.recorder.erase_member(user_id)
