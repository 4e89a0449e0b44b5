"""The ``questions:`` section of the config, with its defaults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.config import Config
from bot.errors import ConfigError


@dataclass(frozen=True)
class QuestionSettings:
    # The logical room (from ``rooms:``) where questions are posted as threads.
    room: str = "questions"
    # Members invited per round; one more round when nobody answered in time.
    invite_count: int = 3
    escalate_after: timedelta = timedelta(hours=48)
    # True: listed members of a profession are invited unless they said ``!vragen uit``.
    # False: only members who said ``!vragen aan``.
    invite_by_default: bool = True
    min_length: int = 10
    max_length: int = 2000

    @classmethod
    def from_config(cls, config: Config) -> QuestionSettings:
        section = config.section("questions")
        problems: list[str] = []
        room = str(section.get("room", cls.room))
        # Without a questions room the feature stays quiet (and says so); naming a room
        # that does not exist is a mistake worth stopping for.
        if "room" in section and room not in config.all_rooms():
            choices = ", ".join(sorted(config.all_rooms()))
            problems.append(f"questions.room: {room!r} is not a configured room (one of {choices})")
        count = _number(section.get("invite_count", 3), "questions.invite_count", problems, 1, 20)
        hours = _number(section.get("escalate_hours", 48), "questions.escalate_hours", problems, 1, 24 * 14)
        by_default = section.get("invite_by_default", True)
        if not isinstance(by_default, bool):
            problems.append("questions.invite_by_default: must be true or false")
            by_default = True
        max_length = _number(section.get("max_length", 2000), "questions.max_length", problems, 50, 4000)
        if problems:
            raise ConfigError(problems)
        return cls(
            room=room,
            invite_count=count,
            escalate_after=timedelta(hours=hours),
            invite_by_default=by_default,
            max_length=max_length,
        )


def _number(value: object, where: str, problems: list[str], low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(f"{where}: must be a whole number from {low} to {high}")
        return low
    return value
