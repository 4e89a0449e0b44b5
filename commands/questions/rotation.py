"""Who is invited to answer a question: fair rotation, pure and deterministic.

Members who were invited least often come first, then those invited longest ago
(never before first), then a pseudo-random order that differs per question, so ties
do not always favour the same names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class InviteHistory:
    count: int = 0
    last: datetime | None = None


def _shuffle_key(salt: int, user_id: str) -> str:
    return hashlib.sha256(f"{salt}:{user_id}".encode()).hexdigest()


def pick_invitees(
    eligible: Iterable[str], history: Mapping[str, InviteHistory], count: int, salt: int
) -> list[str]:
    """Up to ``count`` of ``eligible`` (duplicates ignored), fairest first."""
    if count < 1:
        return []
    unique = set(eligible)

    def key(user_id: str) -> tuple[int, datetime, str]:
        seen = history.get(user_id, InviteHistory())
        return (seen.count, seen.last or _NEVER, _shuffle_key(salt, user_id))

    return sorted(unique, key=key)[:count]
