"""What every part of the buddy feature shares: its services, settings and stores."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from bot.services import Services
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
