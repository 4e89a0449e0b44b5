"""Flood control: one member sending command after command cannot keep the bot busy.

Every sender has a token bucket: a command (or a conversation answer) takes a token,
tokens come back at a steady rate up to the bucket's capacity. A member who runs out is
told once to slow down; further commands are dropped without a word, and answered again
as soon as tokens are back. They are only told again after their bucket has filled up
completely (they calmed down) and ran out once more, so a member who keeps hammering
hears it once, not every few seconds.

A full bucket is the same as no bucket at all, so full ones are forgotten; at most
``max_senders`` buckets are kept, the least recently used going first.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass

from bot.clock import Clock

_SWEEP_PER_CALL = 4


class Verdict(enum.Enum):
    """What to do with one command."""

    ALLOW = "allow"
    NOTIFY = "notify"  # throttled, and the first time in this episode: say so
    DROP = "drop"  # throttled, already told: ignore silently


@dataclass
class _Bucket:
    tokens: float
    updated: float  # POSIX seconds of the last refill
    notified: bool = False


class FloodLimiter:
    """Per-sender token buckets on the injected clock."""

    def __init__(
        self,
        clock: Clock,
        *,
        capacity: int = 8,
        refill_seconds: float = 1.5,
        max_senders: int = 10_000,
    ) -> None:
        if capacity < 1 or refill_seconds <= 0 or max_senders < 1:
            raise ValueError("capacity, refill_seconds and max_senders must be positive")
        self._clock = clock
        self.capacity = capacity
        self.refill_seconds = refill_seconds
        self.max_senders = max_senders
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _refill(self, bucket: _Bucket, now: float) -> None:
        elapsed = max(0.0, now - bucket.updated)  # a clock set back gives nothing, takes nothing
        bucket.tokens = min(float(self.capacity), bucket.tokens + elapsed / self.refill_seconds)
        bucket.updated = max(bucket.updated, now)
        if bucket.tokens >= self.capacity:
            bucket.notified = False

    def check(self, sender: str) -> Verdict:
        """Take a token for one command of ``sender`` and say whether to handle it."""
        now = self._now()
        self._sweep(now)
        bucket = self._buckets.pop(sender, None)
        if bucket is None:
            bucket = _Bucket(tokens=float(self.capacity), updated=now)
        else:
            self._refill(bucket, now)
        self._buckets[sender] = bucket  # most recently used last
        while len(self._buckets) > self.max_senders:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return Verdict.ALLOW
        if bucket.notified:
            return Verdict.DROP
        bucket.notified = True
        return Verdict.NOTIFY

    def forget(self, sender: str) -> int:
        """Drop the sender's bucket (a member who asked to be forgotten)."""
        return 1 if self._buckets.pop(sender, None) is not None else 0

    def _sweep(self, now: float) -> None:
        """Forget a few of the least recently used buckets that have filled up again."""
        for _ in range(_SWEEP_PER_CALL):
            if not self._buckets:
                return
            sender, bucket = next(iter(self._buckets.items()))
            self._refill(bucket, now)
            if bucket.tokens < self.capacity:
                return
            del self._buckets[sender]
