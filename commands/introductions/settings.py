"""The ``introductions:`` section of the config, with its defaults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.settings import Settings, configured_room, cron, hours, setting, truthy, whole_range


@dataclass(frozen=True)
class IntroductionSettings(Settings):
    # Read in this order, so problems are listed in it: the numbers, the cron, the rooms.
    section = "introductions"

    spotlight_enabled: bool = setting(True, key="spotlight.enabled", read=truthy)
    page_size: int = setting(10, read=whole_range(1, 50))
    # After downtime, a missed spotlight is still posted when at most this late.
    spotlight_grace: timedelta = setting(timedelta(hours=6), key="spotlight.late_hours", read=hours(0, 168))
    spotlight_cron: str = setting("0 10 * * mon", key="spotlight.cron", read=cron)
    card_room: str = setting("welcome", read=configured_room)
    spotlight_room: str = setting("welcome", key="spotlight.room", read=configured_room)
