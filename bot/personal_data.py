"""Every feature registers how to export and erase a member's data here.

The privacy commands (see, export, erase) walk this registry, so a feature that stores
personal data and registers nothing is a bug a structural test can catch.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.ids import UserId

log = logging.getLogger(__name__)

Exporter = Callable[[UserId], Awaitable[dict[str, Any]]]
Eraser = Callable[[UserId], Awaitable[int]]


@dataclass(frozen=True)
class PrivacyHooks:
    name: str
    export: Exporter
    erase: Eraser


class PrivacyRegistry:
    """Named export/erase hooks, one per feature (and one per core service)."""

    def __init__(self) -> None:
        self._hooks: dict[str, PrivacyHooks] = {}

    def register(self, name: str, export: Exporter, erase: Eraser) -> None:
        if name in self._hooks:
            raise ValueError(f"privacy hooks for {name!r} registered twice")
        self._hooks[name] = PrivacyHooks(name, export, erase)

    def names(self) -> list[str]:
        return sorted(self._hooks)

    async def export_all(self, user_id: UserId) -> dict[str, dict[str, Any]]:
        """Everything every feature holds about the member, by feature name."""
        return {name: await hooks.export(user_id) for name, hooks in sorted(self._hooks.items())}

    async def erase_all(self, user_id: UserId) -> dict[str, int]:
        """Erase the member everywhere; returns how many records each feature removed."""
        removed: dict[str, int] = {}
        # Features first, the core's safety nets (outbox, jobs, DM) last: they then also
        # catch what a feature's own erasing left behind (a cancelled job's payload).
        for name in sorted(self._hooks, key=lambda name: (name.startswith("core."), name)):
            removed[name] = await self._hooks[name].erase(user_id)
        log.info("erased member data in %d features", len(removed))
        return removed
