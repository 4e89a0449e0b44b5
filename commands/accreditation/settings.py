"""The ``accreditation:`` section of the config, with its defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any

from bot.settings import Invalid, Scope, Settings, setting, whole_range

_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _clock(value: Any, scope: Scope) -> time:
    match = _TIME_RE.match(str(value).strip())
    if match is None:
        raise Invalid("must be a time like 09:00")
    return time(int(match.group(1)), int(match.group(2)))


def _minutes(value: Any, scope: Scope) -> timedelta:
    return timedelta(minutes=whole_range(0, 240)(value, scope))


@dataclass(frozen=True)
class AccreditationSettings(Settings):
    section = "accreditation"

    # A check-in code works from this long before the meeting starts until this long
    # after it ends (people arrive early; the code may be shown at the end).
    checkin_margin: timedelta = setting(timedelta(minutes=30), key="checkin_margin_minutes", read=_minutes)
    # Certificates go out the day after the meeting, at this local time.
    certificate_time: time = setting(time(9, 0), read=_clock)
