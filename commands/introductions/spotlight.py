"""Who is next in the practice spotlight: a pure choice from candidates and history.

Rules: only members who opted in (and wrote how they weigh decisions) are candidates;
nobody is shown twice before every candidate of the current round has been shown; and
professions take turns: the profession whose last spotlight is longest ago goes first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from commands.introductions.records import ProfileRecord


@dataclass(frozen=True)
class ShownBefore:
    user_id: str
    profession: str
    round: int
    shown_at: datetime


@dataclass(frozen=True)
class SpotlightPick:
    record: ProfileRecord
    round: int


def pick_next(
    candidates: Sequence[ProfileRecord], history: Sequence[ShownBefore], profession_order: Sequence[str]
) -> SpotlightPick | None:
    """The next member to show, and the rotation round it belongs to; None when nobody opted in."""
    if not candidates:
        return None
    current_round = max((h.round for h in history), default=1)
    shown_this_round = {h.user_id for h in history if h.round == current_round}
    waiting = [c for c in candidates if c.user_id not in shown_this_round]
    if not waiting:
        # Everyone eligible has had a turn: a new round starts.
        current_round += 1
        shown_this_round = set()
        waiting = list(candidates)
    last_of_profession: dict[str, int] = {}
    last_of_member: dict[str, int] = {}
    for position, shown in enumerate(history):
        last_of_profession[shown.profession] = position
        last_of_member[shown.user_id] = position
    order = {key: i for i, key in enumerate(profession_order)}

    def key(record: ProfileRecord) -> tuple[int, int, int, str]:
        return (
            last_of_profession.get(record.profession, -1),  # longest-waiting profession first
            order.get(record.profession, len(order)),
            last_of_member.get(record.user_id, -1),  # then the member who waited longest
            record.user_id,
        )

    return SpotlightPick(min(waiting, key=key), current_round)
