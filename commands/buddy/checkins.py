"""Check-ins as jobs: one job per pair and round (``buddy:checkin:<pair>:<round>``),
asking both members through the nudge service whether they have met yet."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from commands.buddy.models import BuddyPair
from commands.buddy.state import BuddyState
from commands.buddy.statuses import ACTIVE

CHECKIN_KIND = "buddy:checkin"


def checkin_job_id(pair_id: int, round_number: int) -> str:
    return f"{CHECKIN_KIND}:{pair_id}:{round_number}"


class CheckinJobs:
    def __init__(self, state: BuddyState) -> None:
        self._state = state

    def rounds(self) -> range:
        return range(1, len(self._state.settings.checkin_weeks) + 1)

    def round_of(self, pair: BuddyPair) -> int:
        """The round an answer now belongs to: how many check-in moments have passed."""
        elapsed = self._state.services.clock.now() - pair.started_at
        return sum(1 for weeks in self._state.settings.checkin_weeks if elapsed >= timedelta(weeks=weeks))

    async def schedule(self, pair: BuddyPair) -> None:
        """Every round's job, counted from the pair's start; an existing job stays."""
        for round_number, weeks in enumerate(self._state.settings.checkin_weeks, start=1):
            await self._state.services.scheduler.schedule_once(
                checkin_job_id(pair.id, round_number),
                CHECKIN_KIND,
                pair.started_at + timedelta(weeks=weeks),
                {"pair_id": pair.id, "round": round_number, "weeks": weeks},
                replace=False,
            )

    async def cancel(self, pair_id: int) -> None:
        for round_number in self.rounds():
            await self._state.services.scheduler.cancel(checkin_job_id(pair_id, round_number))

    async def due(self, job_id: str, payload: dict[str, Any]) -> None:
        """The job: ask both members of a pair that still runs."""
        pair = await self._state.store.pair(int(payload["pair_id"]))
        if pair is None or pair.status != ACTIVE:
            return
        round_number, weeks = int(payload["round"]), int(payload["weeks"])
        for member in (pair.member_a, pair.member_b):
            if member:
                await self._state.services.nudges.nudge(
                    member,
                    "buddy.checkin",
                    "buddy.checkin.ask",
                    {"number": pair.id, "weeks": weeks},
                    dedupe_key=f"buddy:checkin:{pair.id}:{round_number}:{member}",
                )
