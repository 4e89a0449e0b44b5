"""The ``buddy:`` section of the config, with its defaults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.config import Config
from bot.errors import ConfigError


@dataclass(frozen=True)
class BuddySettings:
    # How long a candidate has to answer before the request moves on.
    offer_timeout: timedelta = timedelta(days=3)
    # Check-ins after the pair was made ("have you met yet?").
    checkin_weeks: tuple[int, ...] = (2, 6)
    # Pairs a member takes on when they do not say (``max=``), and the most they may.
    default_max_pairs: int = 1
    max_pairs_limit: int = 5
    # How many candidates one request asks at most before telling the requester.
    max_offers: int = 10

    @classmethod
    def from_config(cls, config: Config) -> BuddySettings:
        section = config.section("buddy")
        problems: list[str] = []
        offer_hours = _number(
            section.get("offer_timeout_hours", 72), "buddy.offer_timeout_hours", problems, 1, 24 * 30
        )
        weeks_raw = section.get("checkin_weeks", list(cls.checkin_weeks))
        weeks: tuple[int, ...] = cls.checkin_weeks
        if not isinstance(weeks_raw, list) or not all(
            isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= 52 for w in weeks_raw
        ):
            problems.append("buddy.checkin_weeks: must be a list of whole numbers of weeks from 1 to 52")
        else:
            weeks = tuple(sorted(set(weeks_raw)))
        default_max = _number(section.get("default_max_pairs", 1), "buddy.default_max_pairs", problems, 1, 20)
        limit = _number(section.get("max_pairs_limit", 5), "buddy.max_pairs_limit", problems, 1, 20)
        if default_max > limit:
            problems.append("buddy.default_max_pairs: may not be larger than buddy.max_pairs_limit")
        max_offers = _number(section.get("max_offers", 10), "buddy.max_offers", problems, 1, 100)
        if problems:
            raise ConfigError(problems)
        return cls(
            offer_timeout=timedelta(hours=offer_hours),
            checkin_weeks=weeks,
            default_max_pairs=default_max,
            max_pairs_limit=limit,
            max_offers=max_offers,
        )


def _number(value: object, where: str, problems: list[str], low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(f"{where}: must be a whole number from {low} to {high}")
        return low
    return value
