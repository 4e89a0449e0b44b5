"""The seam through which features report counts to ``!stats``.

A feature that wants to be counted implements :class:`StatsSource` (one method) on its
feature class; the stats feature finds every such feature in the registry at start.
Features built later (casus, events) plug in the same way without changes here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class StatCount:
    """One aggregate: ``metric`` (a catalogue key suffix under ``stats.metric.``), an
    optional profession and the count. Never a user id."""

    metric: str
    profession: str | None
    value: int


@runtime_checkable
class StatsSource(Protocol):
    async def stats_counts(self, since: datetime, until: datetime) -> list[StatCount]: ...
