"""Health: the running bot writes a heartbeat; ``run_bot.py health`` reads it.

The report is read from the database by a separate process (a supervisor, a cron job,
an orchestrator's probe), so it also tells when the bot's process is gone or hung: its
heartbeat stops. A stalled sync shows as an old "last successful sync".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.clock import Clock
from bot.storage import Database
from bot.storage.database import log_failure
from bot.storage.keyvalue import save
from bot.storage.migrate import current_revision
from bot.storage.models import KeyValue, OutboxMessage
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

HEARTBEAT_AT = "health.heartbeat_at"
LAST_SYNC_OK = "health.last_sync_ok"
SCHEDULER_ALIVE = "health.scheduler_alive"

HEARTBEAT_INTERVAL = timedelta(seconds=15)
MAX_HEARTBEAT_AGE = timedelta(seconds=90)
MAX_SYNC_AGE = timedelta(seconds=120)


@dataclass
class HealthReport:
    healthy: bool
    last_sync_age_s: float | None
    scheduler_alive: bool
    database: bool
    outbox_backlog: int
    heartbeat_age_s: float | None = None
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Heartbeat:
    """Writes the bot's vital signs every ``HEARTBEAT_INTERVAL`` while it runs."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        last_sync_ok: Callable[[], datetime | None],
        scheduler_alive: Callable[[], bool],
        keep_lock: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._last_sync_ok = last_sync_ok
        self._scheduler_alive = scheduler_alive
        #: Takes the instance lock again after a database restart dropped it.
        self._keep_lock = keep_lock
        self._task: asyncio.Task[None] | None = None

    async def beat(self) -> None:
        synced = self._last_sync_ok()
        await save(
            self._db,
            {
                HEARTBEAT_AT: self._clock.now().isoformat(),
                LAST_SYNC_OK: synced.isoformat() if synced else "",
                SCHEDULER_ALIVE: "yes" if self._scheduler_alive() else "no",
            },
        )

    async def _loop(self) -> None:
        while True:
            try:
                await self.beat()
                if self._keep_lock is not None:
                    await self._keep_lock()
            except Exception as exc:
                log_failure(log, exc, "could not write the heartbeat")
            # Until the first sync succeeds, beat every second: a supervisor asking
            # right after start should not hear "no successful sync yet" for 15 s.
            waiting = self._last_sync_ok() is None
            await asyncio.sleep(1.0 if waiting else HEARTBEAT_INTERVAL.total_seconds())

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="heartbeat")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)


def _age(now: datetime, value: str | None) -> float | None:
    if not value:
        return None
    try:
        return (now - datetime.fromisoformat(value)).total_seconds()
    except ValueError:
        return None


async def read_health(db: Database, clock: Clock) -> HealthReport:
    """What the last heartbeat says, judged against the limits above."""
    now = clock.now()
    problems: list[str] = []
    if not await db.ping():
        return HealthReport(False, None, False, False, 0, None, ["the database cannot be reached"])
    if await current_revision(db) is None:
        return HealthReport(
            False, None, False, True, 0, None, ["the database has no schema: the bot never ran on it"]
        )
    async with db.session() as session:
        rows = await session.execute(
            select(KeyValue).where(KeyValue.key.in_([HEARTBEAT_AT, LAST_SYNC_OK, SCHEDULER_ALIVE]))
        )
        values = {row.key: row.value for row in rows.scalars()}
        backlog = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
        )
    heartbeat_age = _age(now, values.get(HEARTBEAT_AT))
    sync_age = _age(now, values.get(LAST_SYNC_OK))
    scheduler_alive = values.get(SCHEDULER_ALIVE) == "yes"
    if heartbeat_age is None:
        problems.append("the bot has never run on this database")
    elif heartbeat_age > MAX_HEARTBEAT_AGE.total_seconds():
        problems.append(f"no heartbeat for {heartbeat_age:.0f} s: the bot is not running or hangs")
    if sync_age is None:
        problems.append("no successful sync yet")
    elif sync_age > MAX_SYNC_AGE.total_seconds():
        problems.append(f"last successful sync {sync_age:.0f} s ago: the homeserver is unreachable or hangs")
    if not scheduler_alive:
        problems.append("the scheduler is not running")
    return HealthReport(
        healthy=not problems,
        last_sync_age_s=None if sync_age is None else round(sync_age, 1),
        scheduler_alive=scheduler_alive,
        database=True,
        outbox_backlog=int(backlog or 0),
        heartbeat_age_s=None if heartbeat_age is None else round(heartbeat_age, 1),
        problems=problems,
    )
