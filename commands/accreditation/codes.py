"""Check-in codes: short, easy to type from a screen, valid for the event's hours.

A code is six characters from an alphabet without look-alikes (no 0/O, 1/I/L), so a
member reading it off a projector types it right; what they type is read leniently
(case, spaces and dashes do not matter)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 6


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise(typed: str) -> str:
    """What a member typed, as stored codes are written (``k7m 3qx`` -> ``K7M3QX``)."""
    return "".join(ch for ch in typed.upper() if ch.isalnum())


def shown(code: str) -> str:
    """The code as shown on the screen, in two halves (``K7M 3QX``)."""
    half = len(code) // 2
    return f"{code[:half]} {code[half:]}"


class CodeState(Enum):
    EARLY = "early"
    VALID = "valid"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Window:
    """When a code is accepted: the event's hours widened by a margin either side (people
    arrive early; the organiser may show the code at the end of the meeting)."""

    opens: datetime
    closes: datetime

    @classmethod
    def around(cls, starts_at: datetime, ends_at: datetime, margin: timedelta) -> Window:
        return cls(starts_at - margin, ends_at + margin)

    def state(self, now: datetime) -> CodeState:
        if now < self.opens:
            return CodeState.EARLY
        if now > self.closes:
            return CodeState.EXPIRED
        return CodeState.VALID
