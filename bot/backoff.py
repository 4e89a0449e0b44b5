"""Exponential backoff, shared by the Matrix adapter and the outbox."""

from __future__ import annotations


class Backoff:
    """Waits of ``initial``, doubling, never more than ``cap`` seconds."""

    def __init__(self, initial: float = 0.5, cap: float = 5.0, factor: float = 2.0) -> None:
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self._next = initial

    def next(self) -> float:
        """The wait before the next attempt (grows until :meth:`reset`)."""
        wait = min(self._next, self.cap)
        self._next = min(self._next * self.factor, max(self.cap, self.initial))
        return wait

    def reset(self) -> None:
        self._next = self.initial
