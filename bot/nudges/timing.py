"""When a nudge may reach a member: the pure timing rules, kept apart so they are tested alone.

Outside quiet hours, not at the weekend (if configured) and within the weekly budget;
local wall-clock times are built in the member's zone, never by adding hours to UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.clock import ensure_utc

_MIDNIGHT = time(0, 0)


@dataclass(frozen=True)
class NudgePolicy:
    """When nudges may reach members; quiet hours are local wall-clock times."""

    weekly_budget: int = 3
    quiet_start: time = time(20, 0)
    quiet_end: time = time(8, 0)
    quiet_weekends: bool = True
    timezone: str = "Europe/Amsterdam"

    def __post_init__(self) -> None:
        if self.weekly_budget < 1:
            raise ValueError("weekly_budget must be at least 1")
        if self.quiet_start.tzinfo is not None or self.quiet_end.tzinfo is not None:
            raise ValueError("quiet hours are local wall-clock times without a zone")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _in_quiet_hours(policy: NudgePolicy, wall: time) -> bool:
    start, end = policy.quiet_start, policy.quiet_end
    if start == end:
        return False  # no quiet hours
    if start < end:
        return start <= wall < end
    return wall >= start or wall < end  # spans midnight


def _wall_to_utc(day: date, wall: time, zone: ZoneInfo, after: datetime) -> datetime:
    """The first instant after ``after`` at which the local clock shows ``day wall``.

    Local times are built in the zone and converted, never computed by adding hours
    to UTC: that is what keeps 08:00 at 08:00 across a DST change. An ambiguous wall
    time (the repeated hour in October) has two instants, hence "first after".
    """
    candidates = sorted(
        datetime.combine(day, wall.replace(fold=fold), tzinfo=zone).astimezone(UTC) for fold in (0, 1)
    )
    for candidate in candidates:
        if candidate > after:
            return candidate
    return candidates[-1]


def is_quiet(policy: NudgePolicy, moment: datetime) -> bool:
    """True when ``moment`` falls in quiet hours or (if configured) the weekend."""
    local = ensure_utc(moment).astimezone(policy.zone)
    if policy.quiet_weekends and local.weekday() >= 5:
        return True
    return _in_quiet_hours(policy, local.time())


def budget_week(policy: NudgePolicy, moment: datetime) -> tuple[datetime, datetime]:
    """The calendar week (Monday 00:00 to Monday 00:00 local) holding ``moment``, in UTC.

    A week with a DST change is 167 or 169 hours long; that is why it is built from
    local dates.
    """
    zone = policy.zone
    local = ensure_utc(moment).astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    start = datetime.combine(monday, _MIDNIGHT, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(monday + timedelta(days=7), _MIDNIGHT, tzinfo=zone).astimezone(UTC)
    return start, end


def next_allowed_moment(policy: NudgePolicy, now: datetime, sent_this_week: int) -> datetime:
    """The earliest moment >= ``now`` at which a nudge may be delivered (aware UTC).

    Outside quiet hours, not at the weekend (if ``quiet_weekends``), and, when
    ``sent_this_week`` has reached the budget, not before next Monday 00:00 local
    (which quiet hours then push to Monday ``quiet_end``).
    """
    zone = policy.zone
    moment = ensure_utc(now)
    if sent_this_week >= policy.weekly_budget:
        moment = max(moment, budget_week(policy, moment)[1])
    # Each step moves strictly forward to the end of a quiet stretch; a handful of
    # steps always suffices (weekend -> Monday 00:00 -> Monday quiet_end).
    for _ in range(16):
        local = moment.astimezone(zone)
        if policy.quiet_weekends and local.weekday() >= 5:
            monday = local.date() + timedelta(days=7 - local.weekday())
            moment = _wall_to_utc(monday, _MIDNIGHT, zone, moment)
            continue
        wall = local.time()
        if _in_quiet_hours(policy, wall):
            end_day = local.date()
            if policy.quiet_start > policy.quiet_end and wall >= policy.quiet_start:
                end_day += timedelta(days=1)
            moment = _wall_to_utc(end_day, policy.quiet_end, zone, moment)
            continue
        return moment
    raise RuntimeError(f"no allowed moment found after {now.isoformat()} for {policy!r}")
