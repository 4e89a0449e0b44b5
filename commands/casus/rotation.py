"""Pure choices of the casus feature: which case is next, and the perspective meter."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

UNKNOWN = "unknown"
"""The profession of a member without a profile."""

GUESTS = ("anders",)
"""Welcome at the table but never listed as missing: "another profession" is no
perspective of its own. Every profession ``!leden`` names as missing (the expert by
experience too) the meter names as well."""


@dataclass(frozen=True)
class Pick:
    case_id: str
    round: int


def pick_next(bank: Sequence[str], history: Sequence[tuple[str, int]]) -> Pick | None:
    """The next case of a theme: none repeats before the whole bank was posted.

    ``bank`` lists the theme's case ids in order (library first, approved submissions
    after); ``history`` the (case id, round) of every earlier post of the theme.
    """
    if not bank:
        return None
    current = max((r for _, r in history), default=1)
    used = {case_id for case_id, r in history if r == current}
    waiting = [case_id for case_id in bank if case_id not in used]
    if not waiting:
        current += 1
        waiting = list(bank)
    return Pick(waiting[0], current)


def scheduled_pick(bank: Sequence[str], history: Sequence[tuple[str, int]]) -> Pick | None:
    """The next case a schedule posts, or None: a case never follows itself. A theme
    whose bank holds one case waits (for a member's case, or a moderator's
    ``!casus plaats``) instead of posting the same case again two weeks later."""
    pick = pick_next(bank, history)
    if pick is None or (history and history[-1][0] == pick.case_id):
        return None
    return pick


def upcoming(bank: Sequence[str], history: Sequence[tuple[str, int]], n: int) -> list[str]:
    """The next ``n`` cases in the order they would be posted (for ``!casus planning``)."""
    result: list[str] = []
    past = list(history)
    for _ in range(n):
        pick = scheduled_pick(bank, past)
        if pick is None:
            break
        result.append(pick.case_id)
        past.append((pick.case_id, pick.round))
    return result


@dataclass(frozen=True)
class Meter:
    """Who has been heard on a case: members and messages per profession, and who not."""

    heard: tuple[tuple[str, int, int], ...]  # (profession, members, messages)
    missing: tuple[str, ...]

    @property
    def members(self) -> int:
        return sum(members for _, members, _ in self.heard)

    def heard_professions(self) -> set[str]:
        return {profession for profession, _, _ in self.heard}


def perspective_meter(contributions: Iterable[tuple[str, str]], table: Sequence[str]) -> Meter:
    """The meter from (user id, profession) of every reply, in the order of ``table``.

    A member counts once per case, for the profession of their latest reply; a member
    without a profile counts as :data:`UNKNOWN`. Missing are the professions of
    ``table`` that nobody spoke for (guests never count as missing).
    """
    members: dict[str, str] = {}
    messages: dict[str, int] = {}
    for user_id, profession in contributions:
        members[user_id] = profession
        messages[profession] = messages.get(profession, 0) + 1
    per_profession: dict[str, int] = {}
    for profession in members.values():
        per_profession[profession] = per_profession.get(profession, 0) + 1
    order = {key: i for i, key in enumerate(table)}
    heard = sorted(
        per_profession.items(),
        key=lambda item: (item[0] == UNKNOWN, order.get(item[0], len(order)), item[0]),
    )
    missing = tuple(p for p in table if p not in per_profession and p not in GUESTS and p != UNKNOWN)
    return Meter(tuple((p, n, messages.get(p, 0)) for p, n in heard), missing)
