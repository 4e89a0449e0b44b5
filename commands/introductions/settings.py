"""The ``introductions:`` section of the config, with its defaults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.config import Config
from bot.errors import ConfigError
from bot.scheduler import cron_trigger


@dataclass(frozen=True)
class IntroductionSettings:
    card_room: str = "welcome"
    page_size: int = 10
    spotlight_enabled: bool = True
    spotlight_cron: str = "0 10 * * mon"
    spotlight_room: str = "welcome"
    spotlight_grace: timedelta = timedelta(hours=6)

    @classmethod
    def from_config(cls, config: Config) -> IntroductionSettings:
        section = config.section("introductions")
        spotlight = section.get("spotlight") or {}
        problems: list[str] = []
        if not isinstance(spotlight, dict):
            problems.append("introductions.spotlight: must be a mapping")
            spotlight = {}
        settings = cls(
            card_room=str(section.get("card_room", cls.card_room)),
            page_size=_int(
                section.get("page_size", cls.page_size), "introductions.page_size", problems, 1, 50
            ),
            spotlight_enabled=bool(spotlight.get("enabled", True)),
            spotlight_cron=str(spotlight.get("cron", cls.spotlight_cron)),
            spotlight_room=str(spotlight.get("room", cls.spotlight_room)),
            spotlight_grace=timedelta(
                hours=_int(
                    spotlight.get("late_hours", 6), "introductions.spotlight.late_hours", problems, 0, 168
                )
            ),
        )
        try:
            cron_trigger(settings.spotlight_cron, config.community.timezone)
        except ValueError as exc:
            problems.append(f"introductions.spotlight.cron: {exc}")
        known_rooms = set(config.all_rooms())
        for name, room in (("card_room", settings.card_room), ("spotlight.room", settings.spotlight_room)):
            if room not in known_rooms:
                choices = ", ".join(sorted(known_rooms))
                problems.append(f"introductions.{name}: {room!r} is not a configured room (one of {choices})")
        if problems:
            raise ConfigError(problems)
        return settings


def _int(value: object, where: str, problems: list[str], low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(f"{where}: must be a whole number from {low} to {high}")
        return low
    return value
