"""Test-only reminders: many scheduled messages, due close together; loaded through ``plugins:``.

``!planherinneringen <count> <delay_s> <spacing_s>`` schedules ``count`` one-off jobs,
the first due ``delay_s`` seconds from now and each next one ``spacing_s`` later. Job
``i`` goes to room ``i mod len(rooms)`` of the ``reminder_test.rooms`` config list
(logical room names; the command's own room when the list is empty). When a job runs
it puts one message into the outbox, due at the job's time, so delivery order is the
outbox's, rate limits and outages included.

Everything is keyed by the command's event id: a replayed command or a re-run job
schedules and enqueues nothing new.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from bot.context import Context
from bot.ids import RoomId
from bot.registry import Feature, command
from bot.scheduler.policy import MissedPolicy
from bot.services import Services
from bot.transport import OutgoingMessage

ANSWER_KEY = "core.rooms.other.name"
KIND = "reliability.reminder"
MAX_COUNT = 200


def reminder_text(index: int, count: int, batch: str) -> str:
    return f"reminder {index + 1}/{count} batch {batch}"


class ReminderTest(Feature):
    name = "reliability_reminders"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        services.scheduler.register(KIND, self._due, MissedPolicy.always())

    def _rooms(self, fallback: RoomId) -> list[RoomId]:
        names = self.services.config.section("reminder_test").get("rooms") or []
        found = [self.services.rooms.room_id(str(name)) for name in names]
        rooms = [room for room in found if room is not None]
        return rooms or [fallback]

    @command("planherinneringen", hidden=True)
    async def plan(self, ctx: Context, count: int, delay: float, spacing: float) -> None:
        count = max(0, min(count, MAX_COUNT))
        rooms = self._rooms(ctx.room_id)
        batch = hashlib.sha256(ctx.message.event_id.encode()).hexdigest()[:10]
        first = self.services.clock.now() + timedelta(seconds=max(delay, 0.0))
        for index in range(count):
            run_at = first + timedelta(seconds=max(spacing, 0.0) * index)
            await self.services.scheduler.schedule_once(
                f"reliability:reminder:{batch}:{index}",
                KIND,
                run_at,
                {
                    "batch": batch,
                    "index": index,
                    "count": count,
                    "room_id": rooms[index % len(rooms)],
                    "due": run_at.isoformat(),
                },
                replace=False,
            )
        await ctx.reply(ANSWER_KEY, name=f"planned {count} reminders, batch {batch}")

    async def _due(self, job_id: str, payload: dict[str, Any]) -> None:
        index, count, batch = int(payload["index"]), int(payload["count"]), str(payload["batch"])
        await self.services.outbox.enqueue(
            OutgoingMessage(
                room_id=RoomId(str(payload["room_id"])),
                plain=reminder_text(index, count, batch),
                txn_id=f"reliability.reminder.{batch}.{index}",
            ),
            due_at=datetime.fromisoformat(str(payload["due"])),
        )


def setup(services: Services) -> list[Feature]:
    return [ReminderTest(services)]
