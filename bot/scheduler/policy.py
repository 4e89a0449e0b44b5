"""What to do with a job that fell due while nobody could run it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

# APScheduler wakes us with its own clock; a wake-up a hair before the stored
# run_at (rounding, clock steps) must still count as due.
EARLY_TOLERANCE = timedelta(seconds=1)
# "Never run late" still has to accept the few seconds between due and woken up.
NEVER_TOLERANCE = timedelta(seconds=60)


@dataclass(frozen=True)
class MissedPolicy:
    """What to do with a job that fell due while nobody could run it.

    ``run_late_within=None`` runs it however late; a timedelta runs it when it is
    overdue by at most that much and records it as ``missed`` otherwise.
    """

    run_late_within: timedelta | None

    def __post_init__(self) -> None:
        if self.run_late_within is not None and self.run_late_within < timedelta(0):
            raise ValueError("run_late_within must not be negative")

    @classmethod
    def always(cls) -> MissedPolicy:
        """Run late, however late (e.g. a nudge: still worth sending)."""
        return cls(None)

    @classmethod
    def within(cls, limit: timedelta) -> MissedPolicy:
        """Run late when overdue by at most ``limit``; otherwise record as missed."""
        return cls(limit)

    @classmethod
    def never(cls) -> MissedPolicy:
        """Only run (nearly) on time: overdue by more than a minute means missed."""
        return cls(NEVER_TOLERANCE)

    def allows(self, lateness: timedelta) -> bool:
        """True when a job overdue by ``lateness`` should still run."""
        return self.run_late_within is None or lateness <= self.run_late_within


DEFAULT_POLICY = MissedPolicy.within(timedelta(hours=6))


def rounded(delta: timedelta) -> timedelta:
    """A lateness to whole seconds, for log lines and notes."""
    return timedelta(seconds=round(delta.total_seconds()))
