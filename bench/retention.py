"""Database size over a year of a 2,000-member community, with and without retention.

The rows are written as the bot writes them, with realistic sizes, into a real SQLite
file per variant (the schema from the models), one simulated day at a time:

* the weekly digest: a nudge per subscriber (its body as the parameter, about 2.5 kB),
  its delivery job, the outbox row with the rendered text and HTML, the sent record;
* events: two a week, 50 going each, two reminders per event to each of them through
  the outbox, the reminder and evaluation jobs, answers by reaction on the card;
* case invitations: a case per theme (5) a week, three steps of 30 invitations each
  (a "once ever" nudge quoting the case, its job, the outbox row);
* the community itself: 400 messages and 300 reactions a day, every one a processed
  event; the reactions on members' messages (most of them) are stored only by the old
  code, which remembered every reaction;
* the bot's replies: 150 a day (sent records).

Variants: ``old`` (every reaction remembered, nothing pruned but processed events and
sent records at each weekly restart, as before), ``own reactions`` (only reactions on
the bot's events, nothing pruned by the retention job) and ``retention`` (own reactions
and the daily retention job of bot/retention.py). Printed month by month: the file size
and the live data (pages in use); SQLite reuses freed pages, so a bounded database
keeps its file size once the periods are reached.

    .venv/bin/python bench/retention.py [--members 2000] [--days 365]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import delete, insert, text

from bot.matrix.sending import SENT_RETENTION
from bot.matrix.sync.checkpoint import PROCESSED_RETENTION
from bot.retention import prune
from bot.storage.database import Database
from bot.storage.models import (
    Base,
    Nudge,
    OutboxMessage,
    ProcessedEvent,
    ScheduledJob,
    SeenReaction,
    SentMessage,
)

TABLES = (OutboxMessage, ScheduledJob, Nudge, SeenReaction, ProcessedEvent, SentMessage)
START = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)  # a Monday
VARIANTS = ("old", "own reactions", "retention")
THEMES = 5
rng = random.Random(17)


def words(size: int) -> str:
    """Dutch-looking text of about ``size`` characters (compresses like real text)."""
    vocabulary = (
        "re-integratie",
        "werkgever",
        "belastbaarheid",
        "bedrijfsarts",
        "plan",
        "van",
        "aanpak",
        "de",
    )
    out: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(vocabulary)
        out.append(word)
        length += len(word) + 1
    return " ".join(out)[:size]


class Simulation:
    def __init__(self, db: Database, variant: str, members: int) -> None:
        self.db = db
        self.variant = variant
        self.members = [f"@lid{i}:kennisbrug.nl" for i in range(members)]
        self.subscribers = self.members[: int(members * 0.6)]
        self.ids = itertools.count(1)
        self.digest_body = words(2500)
        self.digest_html = words(4200)

    async def day(self, day: int) -> None:
        now = START + timedelta(days=day)
        rows: dict[Any, list[dict[str, Any]]] = {
            Nudge: [],
            OutboxMessage: [],
            ScheduledJob: [],
            SeenReaction: [],
            ProcessedEvent: [],
            SentMessage: [],
        }
        weekday = now.weekday()
        if weekday == 0:
            self.digest(now, rows)
        if weekday in (1, 3):
            self.event(day, now, rows)
        if weekday in (0, 2, 4):
            self.case_step(day, now, rows, step=(weekday // 2) + 1)
        self.community(day, now, rows)
        async with self.db.transaction() as session:
            for model, batch in rows.items():
                for start in range(0, len(batch), 2000):
                    await session.execute(insert(model), batch[start : start + 2000])
        if self.variant == "retention":
            await prune(self.db, now + timedelta(hours=22))
        elif day % 7 == 6:
            # The old code pruned these two at every start; say the bot restarts weekly.
            async with self.db.transaction() as session:
                await session.execute(
                    delete(ProcessedEvent).where(ProcessedEvent.received_at < now - PROCESSED_RETENTION)
                )
                await session.execute(delete(SentMessage).where(SentMessage.sent_at < now - SENT_RETENTION))

    def nudge_sent(
        self,
        rows: dict[Any, list[dict[str, Any]]],
        now: datetime,
        user: str,
        kind: str,
        key: str,
        params: dict[str, Any],
        plain: str,
        html: str,
        expires: datetime | None = None,
    ) -> None:
        nudge_id = next(self.ids)
        sent = now + timedelta(minutes=rng.randint(1, 300))
        rows[Nudge].append(
            {
                "id": nudge_id,
                "user_id": user,
                "kind": kind,
                "dedupe_key": key,
                "message_key": f"{kind}.message",
                "params": params,
                "created_at": now,
                "deliver_at": sent,
                "status": "sent",
                "sent_at": sent,
                "expires_at": expires,
            }
        )
        rows[ScheduledJob].append(
            {
                "job_id": f"nudges:deliver:{nudge_id}",
                "kind": "nudges:deliver",
                "run_at": sent,
                "payload": {"nudge_id": nudge_id},
                "status": "done",
                "attempts": 1,
                "finished_at": sent,
                "note": None,
            }
        )
        self.outbox(rows, sent, f"kb.nudge.{nudge_id}", f"!dm-{user}", plain, html)

    def outbox(
        self, rows: dict[Any, list[dict[str, Any]]], at: datetime, txn: str, room: str, plain: str, html: str
    ) -> None:
        event_id = f"${txn}"
        rows[OutboxMessage].append(
            {
                "txn_id": txn,
                "room_id": room,
                "plain": plain,
                "html": html,
                "thread_root": None,
                "reply_to": None,
                "mentions": {},
                "notice": True,
                "due_at": at,
                "created_at": at,
                "status": "sent",
                "attempts": 1,
                "reason": None,
                "event_id": event_id,
                "sent_at": at,
            }
        )
        rows[SentMessage].append({"txn_id": txn, "room_id": room, "event_id": event_id, "sent_at": at})

    def digest(self, now: datetime, rows: dict[Any, list[dict[str, Any]]]) -> None:
        stamp = now.strftime("%Y%m%d")
        for user in self.subscribers:
            self.nudge_sent(
                rows,
                now,
                user,
                "digest",
                f"digest:{user}:{stamp}",
                {"body": self.digest_body},
                self.digest_body,
                self.digest_html,
                expires=now + timedelta(days=3),
            )

    def event(self, day: int, now: datetime, rows: dict[Any, list[dict[str, Any]]]) -> None:
        going = rng.sample(self.members, 50)
        reminder = words(600)
        for label in ("7d", "1d"):
            for user in going:
                self.outbox(
                    rows, now, f"ev.remind.{day}.{label}.{user}", f"!dm-{user}", reminder, reminder * 2
                )
        for job in ("remind.7d", "remind.1d", "remind.2h", "evaluate"):
            rows[ScheduledJob].append(
                {
                    "job_id": f"events:{job}:{day}",
                    "kind": f"events.{job}",
                    "run_at": now,
                    "payload": {"event": day},
                    "status": "done",
                    "attempts": 1,
                    "finished_at": now,
                    "note": None,
                }
            )
        for user in going:  # answers by reaction on the card: the bot's own event
            rows[SeenReaction].append(
                {
                    "event_id": f"$react-{day}-{user}",
                    "room_id": "!events",
                    "sender": user,
                    "target_event_id": f"$card-{day}",
                    "key": "✅",
                    "seen_at": now,
                }
            )

    def case_step(self, day: int, now: datetime, rows: dict[Any, list[dict[str, Any]]], step: int) -> None:
        week = day // 7
        for theme in range(THEMES):
            quote = words(400)
            run = week * THEMES + theme
            for user in rng.sample(self.members, 30):
                self.nudge_sent(
                    rows,
                    now,
                    user,
                    "casus.invite",
                    f"casus:invite:{run}:{step}:{user}",
                    {"excerpt": quote},
                    quote,
                    quote * 2,
                )
            rows[ScheduledJob].append(
                {
                    "job_id": f"casus:step:{run}:{step}",
                    "kind": "casus.step",
                    "run_at": now,
                    "payload": {"run_id": run, "step": step},
                    "status": "done",
                    "attempts": 1,
                    "finished_at": now,
                    "note": None,
                }
            )

    def community(self, day: int, now: datetime, rows: dict[Any, list[dict[str, Any]]]) -> None:
        for i in range(700):
            at = now + timedelta(seconds=i * 100)
            rows[ProcessedEvent].append(
                {
                    "event_id": f"$in-{day}-{i}",
                    "room_id": "!welcome",
                    "status": "done",
                    "received_at": at,
                    "origin_ts": at,
                }
            )
            if i >= 400 and self.variant == "old":  # a reaction on a member's message
                rows[SeenReaction].append(
                    {
                        "event_id": f"$in-{day}-{i}",
                        "room_id": "!welcome",
                        "sender": rng.choice(self.members),
                        "target_event_id": f"$in-{day}-{i - 400}",
                        "key": "👍",
                        "seen_at": at,
                    }
                )
        for i in range(150):
            at = now + timedelta(seconds=i * 500)
            rows[SentMessage].append(
                {
                    "txn_id": f"reply.{day}.{i}",
                    "room_id": "!welcome",
                    "event_id": f"$reply-{day}-{i}",
                    "sent_at": at,
                }
            )


async def size_of(db: Database) -> tuple[int, int]:
    async with db.engine.connect() as conn:
        page = (await conn.execute(text("PRAGMA page_size"))).scalar_one()
        pages = (await conn.execute(text("PRAGMA page_count"))).scalar_one()
        free = (await conn.execute(text("PRAGMA freelist_count"))).scalar_one()
    return int(pages) * int(page), (int(pages) - int(free)) * int(page)


async def simulate(variant: str, path: Path, members: int, days: int) -> list[tuple[int, int, int]]:
    db = Database(f"sqlite+aiosqlite:///{path}")
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    simulation = Simulation(db, variant, members)
    sizes: list[tuple[int, int, int]] = []
    for day in range(days):
        await simulation.day(day)
        if (day + 1) % 30 == 0 or day == days - 1:
            file_size, live = await size_of(db)
            sizes.append((day + 1, file_size, live))
    async with db.engine.connect() as conn:
        counts = {
            model.__tablename__: (
                await conn.execute(text(f"SELECT count(*) FROM {model.__tablename__}"))
            ).scalar_one()
            for model in TABLES
        }
    print(f"{variant}: rows at the end: " + ", ".join(f"{t} {c}" for t, c in counts.items()), file=sys.stderr)
    await db.dispose()
    return sizes


def mb(size: int) -> str:
    return f"{size / 1_000_000:8.1f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    results: dict[str, list[tuple[int, int, int]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in VARIANTS:
            began = time.monotonic()
            results[variant] = await simulate(
                variant, Path(tmp) / f"{variant.replace(' ', '-')}.db", args.members, args.days
            )
            print(f"simulated {variant!r} in {time.monotonic() - began:.0f} s", file=sys.stderr)
    print(f"{args.members} members, {args.days} days; MB per variant: file size / live data")
    print("  day " + "".join(f"{v:>20}" for v in VARIANTS))
    for index, (day, _f, _l) in enumerate(results[VARIANTS[0]]):
        cells = "".join(f"{mb(results[v][index][1])} /{mb(results[v][index][2])} " for v in VARIANTS)
        print(f"{day:5d} {cells}")
    print(f"(load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    asyncio.run(main())
