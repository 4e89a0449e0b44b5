"""Standard 5-field crontab expressions as APScheduler 3 triggers.

APScheduler 3 numbers weekdays from Monday = 0 (crontab uses Sunday = 0), so the
day-of-week field is translated here instead of being handed to
``CronTrigger.from_crontab``, which would shift every numeric weekday by one day.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from bot.clock import ensure_utc

_ONE_MICROSECOND = timedelta(microseconds=1)


_CRONTAB_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_ITEM = re.compile(r"^(?P<range>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>\d+))?$")


def _crontab_day(token: str, expression: str) -> int:
    """A crontab weekday (0-7 or a name) as 0..6 with Sunday = 0."""
    if token.isdigit():
        number = int(token)
        if number > 7:
            raise ValueError(f"invalid cron expression {expression!r}: day of week {number} is not in 0-7")
        return number % 7
    if token[:3] in _CRONTAB_DAYS and len(token) == 3:
        return _CRONTAB_DAYS.index(token)
    raise ValueError(f"invalid cron expression {expression!r}: unknown day of week {token!r}")


def _translate_day_of_week(field: str, expression: str) -> str:
    """Crontab day-of-week field (Sunday = 0 or 7) -> APScheduler 3 weekday names."""
    days: set[int] = set()
    for item in field.lower().split(","):
        match = _DOW_ITEM.match(item)
        if match is None:
            raise ValueError(f"invalid cron expression {expression!r}: cannot read day of week {item!r}")
        part, step_text = match.group("range"), match.group("step")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"invalid cron expression {expression!r}: step must be at least 1")
        if part == "*":
            first, last = 0, 6
        elif "-" in part:
            start_token, end_token = part.split("-", 1)
            first = _crontab_day(start_token, expression)
            # "1-7" means Monday to Sunday: keep 7 as the end of the range.
            last = 7 if end_token == "7" else _crontab_day(end_token, expression)
            if first > last:
                raise ValueError(
                    f"invalid cron expression {expression!r}: day-of-week range {part!r} runs backwards"
                )
        else:
            first = last = _crontab_day(part, expression)
            if step_text:
                last = 6
        days.update(day % 7 for day in range(first, last + 1, step))
    if len(days) == 7:
        return "*"
    return ",".join(_CRONTAB_DAYS[day] for day in sorted(days))


def zone_info(timezone: str) -> ZoneInfo:
    """The zone named ``timezone``; ``ValueError`` naming it when there is none."""
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {timezone!r}") from exc


def cron_trigger(cron: str, timezone: str) -> CronTrigger:
    """An APScheduler trigger for a standard 5-field crontab expression.

    Raises ``ValueError`` naming the expression when it cannot be read or never fires.
    """
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(
            f"invalid cron expression {cron!r}: expected 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    minute, hour, day, month, day_of_week = fields
    weekdays = _translate_day_of_week(day_of_week, cron)
    if day != "*" and weekdays != "*":
        # crontab fires when EITHER field matches, APScheduler only when both do;
        # refusing is better than silently firing on other days than the author meant.
        raise ValueError(
            f"invalid cron expression {cron!r}: restricting both day-of-month and "
            "day-of-week is not supported; schedule two jobs instead"
        )
    zone = zone_info(timezone)
    try:
        trigger = CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=weekdays,
            timezone=zone,
        )
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {cron!r}: {exc}") from exc
    return trigger


def next_after(trigger: CronTrigger, moment: datetime) -> datetime | None:
    """The first fire time strictly after ``moment``, in UTC."""
    fire = trigger.get_next_fire_time(None, moment + _ONE_MICROSECOND)
    return None if fire is None else cast(datetime, fire).astimezone(UTC)


def next_fire_times(cron: str, tz: str, after: datetime, n: int) -> list[datetime]:
    """The next ``n`` fire times (aware UTC) of ``cron`` in zone ``tz``, strictly after ``after``.

    Pure; used by tests and to preview a schedule to an organiser.
    """
    trigger = cron_trigger(cron, tz)
    moment = ensure_utc(after)
    result: list[datetime] = []
    while len(result) < n:
        fire = next_after(trigger, moment)
        if fire is None:
            break
        result.append(fire)
        moment = fire
    return result


def latest_fire_time(trigger: CronTrigger, after: datetime, until: datetime) -> datetime | None:
    """The most recent fire time in ``(after, until]``, or None.

    Searching from ``after`` would walk every occurrence of a minutely job that was
    down for months; a short window before ``until`` almost always holds the answer,
    and the windows only widen when it does not.
    """
    if until <= after:
        return None
    for window in (timedelta(days=2), timedelta(days=40), timedelta(days=400), None):
        start = after if window is None else max(after, until - window)
        latest: datetime | None = None
        fire = next_after(trigger, start)
        while fire is not None and fire <= until:
            latest = fire
            fire = next_after(trigger, fire)
        if latest is not None or start == after:
            return latest
    return None
