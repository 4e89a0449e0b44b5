"""The ``questions:`` section of the config, with its defaults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.settings import Settings, boolean, configured_room, hours, setting, whole_range


@dataclass(frozen=True)
class QuestionSettings(Settings):
    section = "questions"

    # The logical room (from ``rooms:``) where questions are posted as threads. Without
    # a questions room the feature stays quiet (and says so); naming a room that does not
    # exist is a mistake worth stopping for, so only a room named here is checked.
    room: str = setting("questions", read=configured_room)
    # Members invited per round; one more round when nobody answered in time.
    invite_count: int = setting(3, read=whole_range(1, 20))
    escalate_after: timedelta = setting(timedelta(hours=48), key="escalate_hours", read=hours(1, 24 * 14))
    # True: listed members of a profession are invited unless they said ``!vragen uit``.
    # False: only members who said ``!vragen aan``.
    invite_by_default: bool = setting(True, read=boolean(quote_value=False))
    min_length: int = 10
    max_length: int = setting(2000, read=whole_range(50, 4000))
    # Open questions one member may have at once: each one invites members round after
    # round, so a member cannot keep a whole profession busy.
    max_open: int = setting(3, read=whole_range(1, 50))
