"""The ``buddy:`` section of the config, with its defaults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.settings import Invalid, Scope, Settings, hours, setting, whole_range


def _weeks(value: Any, scope: Scope) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= 52 for w in value
    ):
        raise Invalid("must be a list of whole numbers of weeks from 1 to 52")
    return tuple(sorted(set(value)))


def _pairs_limit(value: Any, scope: Scope) -> int:
    """The limit, then whether the default fits under it (the limit read as 1 when invalid)."""
    try:
        limit: int = whole_range(1, 20)(value, scope)
    except Invalid as problem:
        scope.report(problem.message)
        limit = 1
    if scope.values["default_max_pairs"] > limit:
        scope.report("may not be larger than buddy.max_pairs_limit", key="buddy.default_max_pairs")
    return limit


@dataclass(frozen=True)
class BuddySettings(Settings):
    section = "buddy"

    # How long a candidate has to answer before the request moves on.
    offer_timeout: timedelta = setting(timedelta(days=3), key="offer_timeout_hours", read=hours(1, 24 * 30))
    # Check-ins after the pair was made ("have you met yet?").
    checkin_weeks: tuple[int, ...] = setting((2, 6), read=_weeks)
    # Pairs a member takes on when they do not say (``max=``), and the most they may.
    default_max_pairs: int = setting(1, read=whole_range(1, 20))
    max_pairs_limit: int = setting(5, read=_pairs_limit, raw=5)
    # How many candidates one request asks at most before telling the requester.
    max_offers: int = setting(10, read=whole_range(1, 100))
