"""What every part of the buddy feature shares: its services, settings and stores."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from bot.ids import UserId
from bot.services import Services
from bot.transport import OutgoingMessage
from commands.buddy.settings import BuddySettings
from commands.buddy.store import BuddyStore
from commands.introductions.fields import FieldParser
from commands.introductions.store import ProfileStore


@dataclass
class BuddyState:
    """One object handed to every part; building it touches nothing outside it."""

    services: Services
    settings: BuddySettings
    store: BuddyStore
    profiles: ProfileStore
    parser: FieldParser
    themes: dict[str, dict[str, str]]

    @classmethod
    def build(cls, services: Services) -> BuddyState:
        return cls(
            services=services,
            settings=BuddySettings.from_config(services.config),
            store=BuddyStore(services.db, services.clock),
            profiles=ProfileStore(services.db, services.clock),
            parser=FieldParser(services.catalogue, services.professions, tuple(services.config.themes)),
            themes={t.key: dict(t.name) for t in services.config.themes},
        )

    def today(self) -> date:
        timezone = ZoneInfo(self.services.config.community.timezone)
        return self.services.clock.now().astimezone(timezone).date()

    def offer_days(self) -> str:
        """The offer time in days, as the texts show it (``3``, ``0.5``)."""
        return f"{self.settings.offer_timeout.total_seconds() / 86400:.3g}"

    async def tell(self, user_id: str, key: str, txn_id: str, **params: Any) -> None:
        """A message to a member's DM through the outbox, in their language; a parameter
        may be a function of the language."""
        language = await self.services.members.language_of(UserId(user_id))
        built = {name: (value(language) if callable(value) else value) for name, value in params.items()}
        rendered = self.services.catalogue.render(language, key, **built)
        room = await self.services.transport.direct_room(UserId(user_id))
        await self.services.outbox.enqueue(
            OutgoingMessage(room_id=room, plain=rendered.plain, html=rendered.html, txn_id=txn_id)
        )
