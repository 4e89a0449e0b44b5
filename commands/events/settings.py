"""The ``events:`` section of the config, with its defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta

from bot.config import USER_ID_RE, Config
from bot.errors import ConfigError

_OFFSET_RE = re.compile(r"^(\d{1,4})\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class ReminderOffset:
    """How long before an event a reminder goes out; ``label`` names it in job ids."""

    label: str
    delta: timedelta


def parse_offset(text: str) -> ReminderOffset | None:
    """``7d``, ``1d``, ``2h``, ``30m``, ``1w``: a positive offset, or None."""
    match = _OFFSET_RE.match(str(text).strip().lower())
    if match is None or int(match.group(1)) == 0:
        return None
    number, unit = int(match.group(1)), match.group(2)
    return ReminderOffset(f"{number}{unit}", timedelta(**{_UNITS[unit]: number}))


def _clock(text: object) -> time | None:
    match = _TIME_RE.match(str(text).strip())
    return time(int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class EventSettings:
    room: str = "events"
    organisers: tuple[str, ...] = ()
    reminders: tuple[ReminderOffset, ...] = (
        ReminderOffset("7d", timedelta(days=7)),
        ReminderOffset("1d", timedelta(days=1)),
        ReminderOffset("2h", timedelta(hours=2)),
    )
    evaluation_enabled: bool = True
    evaluation_days_after: int = 1
    evaluation_time: time = time(10, 0)
    good_months: tuple[int, ...] = (3, 4, 5, 9, 10, 11)
    max_hours: float = 4.0
    latest_start: time = time(12, 0)

    @classmethod
    def from_config(cls, config: Config) -> EventSettings:
        section = config.section("events")
        problems: list[str] = []
        room = str(section.get("room", cls.room))
        # The default room may be missing from a minimal config (events are then not
        # announced, and organisers are told so); a room named here must exist.
        if "room" in section and room not in config.all_rooms():
            choices = ", ".join(sorted(config.all_rooms()))
            problems.append(f"events.room: {room!r} is not a configured room (one of {choices})")
        organisers = section.get("organisers") or []
        if not isinstance(organisers, list) or not all(
            isinstance(o, str) and USER_ID_RE.match(o.lower()) for o in organisers
        ):
            problems.append("events.organisers: must be a list of user ids like @name:server")
            organisers = []
        raw_offsets = section.get("reminders", [r.label for r in cls.reminders])
        offsets: list[ReminderOffset] = []
        if not isinstance(raw_offsets, list):
            problems.append("events.reminders: must be a list of offsets like 7d, 1d, 2h")
            raw_offsets = []
        for i, text in enumerate(raw_offsets):
            offset = parse_offset(str(text))
            if offset is None:
                problems.append(f"events.reminders[{i}]: {text!r} is not an offset like 7d, 1d, 2h or 30m")
            elif any(o.delta == offset.delta for o in offsets):
                problems.append(f"events.reminders[{i}]: {text!r} is given twice")
            else:
                offsets.append(offset)
        evaluation = section.get("evaluation") or {}
        if not isinstance(evaluation, dict):
            problems.append("events.evaluation: must be a mapping")
            evaluation = {}
        days_after = evaluation.get("days_after", cls.evaluation_days_after)
        if isinstance(days_after, bool) or not isinstance(days_after, int) or not 0 <= days_after <= 14:
            problems.append("events.evaluation.days_after: must be a whole number from 0 to 14")
            days_after = cls.evaluation_days_after
        eval_time = _clock(evaluation.get("time", "10:00"))
        if eval_time is None:
            problems.append("events.evaluation.time: must be a time like 10:00")
            eval_time = cls.evaluation_time
        planning = section.get("planning") or {}
        if not isinstance(planning, dict):
            problems.append("events.planning: must be a mapping")
            planning = {}
        months = planning.get("good_months", list(cls.good_months))
        if not isinstance(months, list) or not all(
            isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 12 for m in months
        ):
            problems.append("events.planning.good_months: must be a list of month numbers 1-12")
            months = list(cls.good_months)
        max_hours = planning.get("max_hours", cls.max_hours)
        if isinstance(max_hours, bool) or not isinstance(max_hours, int | float) or not 0 < max_hours <= 24:
            problems.append("events.planning.max_hours: must be a number of hours from 0 to 24")
            max_hours = cls.max_hours
        latest = _clock(planning.get("latest_start", "12:00"))
        if latest is None:
            problems.append("events.planning.latest_start: must be a time like 12:00")
            latest = cls.latest_start
        if problems:
            raise ConfigError(problems)
        return cls(
            room=room,
            organisers=tuple(o.lower() for o in organisers),
            reminders=tuple(sorted(offsets, key=lambda o: o.delta, reverse=True)),
            evaluation_enabled=bool(evaluation.get("enabled", True)),
            evaluation_days_after=days_after,
            evaluation_time=eval_time,
            good_months=tuple(months),
            max_hours=float(max_hours),
            latest_start=latest,
        )
