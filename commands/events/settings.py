"""The ``events:`` section of the config, with its defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any

from bot.config import USER_ID_RE
from bot.settings import Invalid, Reader, Scope, Settings, configured_room, setting, truthy, whole_range

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


def _clock_like(example: str) -> Reader:
    def read(value: Any, scope: Scope) -> time:
        clock = _clock(value)
        if clock is None:
            raise Invalid(f"must be a time like {example}")
        return clock

    return read


def _organisers(value: Any, scope: Scope) -> tuple[str, ...]:
    organisers = value or []
    if not isinstance(organisers, list) or not all(
        isinstance(o, str) and USER_ID_RE.match(o.lower()) for o in organisers
    ):
        raise Invalid("must be a list of user ids like @name:server")
    return tuple(o.lower() for o in organisers)


def _reminders(value: Any, scope: Scope) -> tuple[ReminderOffset, ...]:
    """Each offset once, latest first; a bad or repeated one is named by its index."""
    if not isinstance(value, list):
        raise Invalid("must be a list of offsets like 7d, 1d, 2h")
    offsets: list[ReminderOffset] = []
    for i, text in enumerate(value):
        offset = parse_offset(str(text))
        if offset is None:
            scope.report(f"{text!r} is not an offset like 7d, 1d, 2h or 30m", key=f"{scope.key}[{i}]")
        elif any(o.delta == offset.delta for o in offsets):
            scope.report(f"{text!r} is given twice", key=f"{scope.key}[{i}]")
        else:
            offsets.append(offset)
    return tuple(sorted(offsets, key=lambda o: o.delta, reverse=True))


def _months(value: Any, scope: Scope) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 12 for m in value
    ):
        raise Invalid("must be a list of month numbers 1-12")
    return tuple(value)


def _max_hours(value: Any, scope: Scope) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 24:
        raise Invalid("must be a number of hours from 0 to 24")
    return float(value)


@dataclass(frozen=True)
class EventSettings(Settings):
    section = "events"

    # The default room may be missing from a minimal config (events are then not
    # announced, and organisers are told so); a room named here must exist.
    room: str = setting("events", read=configured_room)
    organisers: tuple[str, ...] = setting((), read=_organisers)
    reminders: tuple[ReminderOffset, ...] = setting(
        (
            ReminderOffset("7d", timedelta(days=7)),
            ReminderOffset("1d", timedelta(days=1)),
            ReminderOffset("2h", timedelta(hours=2)),
        ),
        read=_reminders,
    )
    evaluation_enabled: bool = setting(True, key="evaluation.enabled", read=truthy)
    evaluation_days_after: int = setting(1, key="evaluation.days_after", read=whole_range(0, 14))
    evaluation_time: time = setting(time(10, 0), key="evaluation.time", read=_clock_like("10:00"))
    good_months: tuple[int, ...] = setting((3, 4, 5, 9, 10, 11), key="planning.good_months", read=_months)
    max_hours: float = setting(4.0, key="planning.max_hours", read=_max_hours)
    latest_start: time = setting(time(12, 0), key="planning.latest_start", read=_clock_like("12:00"))
