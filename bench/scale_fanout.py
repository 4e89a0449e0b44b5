"""The fan-outs of bench/scale.py: the Monday digest to every subscriber, a reminder to 500.

Both run the real bot in this process (``bot.app.run``, on the benchmark's homeserver and
database) and end when every message is on the homeserver: the outbox records each
message's event id, and its ``origin_server_ts`` is read back from the homeserver.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import delete, insert, select

from bench.latency import percentile
from bench.scale_community import Homeserver
from bot.app import App, run
from bot.config import Config
from bot.devtools.synapse import LocalSynapse
from bot.storage.models import Nudge, OutboxMessage
from commands.digest.feature import DIGEST_KIND, Digest
from commands.events.feature import Events
from commands.events.jobs import REMINDER_LEAD
from commands.events.models import Event, Rsvp

WAIT_S = 1800


@contextlib.asynccontextmanager
async def running_bot(config: Config) -> AsyncIterator[App]:
    ready = asyncio.Event()
    holder: dict[str, App] = {}
    task = asyncio.create_task(run(config, ready=ready, on_app=lambda app: holder.update(app=app)))
    done, _ = await asyncio.wait(
        {task, asyncio.ensure_future(ready.wait())}, timeout=900, return_when=asyncio.FIRST_COMPLETED
    )
    if task in done:
        task.result()
    if not ready.is_set():
        raise TimeoutError("the bot did not start")
    try:
        yield holder["app"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_sent(app: App, txn_like: str, expected: int, since: datetime) -> list[tuple[str, str]]:
    """(room, event id) of every message the outbox sent, once ``expected`` are sent."""
    deadline = time.monotonic() + WAIT_S
    sent: list[tuple[str, str]] = []
    while time.monotonic() < deadline:
        async with app.services.db.session() as session:
            rows = await session.execute(
                select(OutboxMessage.room_id, OutboxMessage.event_id).where(
                    OutboxMessage.txn_id.like(txn_like),
                    OutboxMessage.status == "sent",
                    OutboxMessage.created_at >= since,
                )
            )
            sent = [(str(room), str(event)) for room, event in rows.all()]
        if len(sent) >= expected:
            break
        await asyncio.sleep(0.5)  # polling the bot's database while it sends
    return sent


async def server_seconds(synapse: LocalSynapse, token: str, sent: list[tuple[str, str]]) -> list[float]:
    """Each message's ``origin_server_ts``, in seconds since the epoch."""
    hs = Homeserver(synapse, 16)
    try:

        async def one(pair: tuple[str, str]) -> float:
            room, event = pair
            body = await hs.call("GET", f"/rooms/{quote(room)}/event/{quote(event)}", token)
            return float(body["origin_server_ts"]) / 1000

        return await hs.each(sent, one)
    finally:
        await hs.close()


async def plain_pace(synapse: LocalSynapse, token: str, rooms: list[str], width: int) -> float:
    """Messages per second a bare client gets into these rooms, ``width`` at once."""
    hs = Homeserver(synapse, width)
    tag = secrets.token_hex(4)
    try:
        started = time.perf_counter()
        await hs.each(
            list(enumerate(rooms)),
            lambda item: hs.call(
                "PUT",
                f"/rooms/{quote(item[1])}/send/m.room.message/plain.{tag}.{item[0]}",
                token,
                {"msgtype": "m.notice", "body": "De digest van deze week", "m.mentions": {}},
            ),
        )
        return len(rooms) / (time.perf_counter() - started)
    finally:
        await hs.close()


@contextlib.contextmanager
def profiled(folder: Path | None, name: str) -> Iterator[None]:
    """A pyinstrument profile of the block (the bot runs in this process) into
    ``folder/<name>.txt``; nothing without a folder."""
    if folder is None:
        yield
        return
    from pyinstrument import Profiler

    profiler = Profiler(async_mode="disabled", interval=0.005)
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.txt").write_text(profiler.output_text(show_all=False, color=False))


async def fanouts(
    config: Config,
    synapse: LocalSynapse,
    token: str,
    dms: dict[str, str],
    attendees: list[str],
    profile_to: Path | None = None,
) -> dict[str, Any]:
    """The digest, then the reminder, in one running bot: the reminder goes to DMs the
    process has written to already (their room keys shared), as in a bot that has been up.
    Then the baseline: a bare client's pace into the same DMs."""
    async with running_bot(config) as app:
        with profiled(profile_to, "digest"):
            figures = await digest_round(app, synapse, token)
        with profiled(profile_to, "reminder"):
            figures.update(await reminder_round(app, synapse, token, attendees))
    rooms = list(dms.values())[: figures["digest_delivered"] or len(dms)]
    figures["digest_base_rate"] = await plain_pace(synapse, token, rooms, config.matrix.outbox_concurrency)
    return figures


async def digest_round(app: App, synapse: LocalSynapse, token: str) -> dict[str, Any]:
    digest = next(f for f in app.features if isinstance(f, Digest))
    # Every size of one run sends "this Monday's" digest: the nudges of the smaller sizes
    # would keep their members' dedupe keys for today (digest:<user>:<date>), and those
    # members would get none this time (402 of 500 after a run at 100). A new week for
    # the benchmark: the earlier digests' nudges go.
    async with app.services.db.transaction() as session:
        await session.execute(delete(Nudge).where(Nudge.kind == DIGEST_KIND))
    subscribers = len(await digest.store.subscribers())
    since = datetime.now(UTC) - timedelta(seconds=1)
    started = time.time()
    planned = await digest.send_all(app.services.clock.now())
    sent = await wait_sent(app, "kb.nudge.%", planned, since)
    stamps = await server_seconds(synapse, token, sent)
    last = max(stamps) - started if stamps else float("nan")
    return {
        "digest_subscribers": subscribers,
        "digest_planned": planned,
        "digest_delivered": len(sent),
        "digest_last_s": last,
        "digest_rate": len(sent) / last if stamps else None,
    }


async def reminder_round(app: App, synapse: LocalSynapse, token: str, attendees: list[str]) -> dict[str, Any]:
    feature = next(f for f in app.features if isinstance(f, Events))
    now = datetime.now(UTC)
    due = now + timedelta(seconds=8)
    starts = due + timedelta(hours=2)
    async with app.services.db.transaction() as session:
        created = await session.execute(
            insert(Event).returning(Event.id),
            [
                {
                    "uid": f"bench-scale-{secrets.token_hex(6)}@localhost",
                    "title": "Intervisie op schaal",
                    "starts_at": starts,
                    "ends_at": starts + timedelta(hours=2),
                    "form": "fysiek",
                    "place": "Utrecht",
                    "audience": [],
                    "status": "announced",
                    "sequence": 0,
                    "signup_counter": len(attendees),
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
        event_id = int(created.scalar_one())
        await session.execute(
            insert(Rsvp),
            [
                {
                    "event_id": event_id,
                    "user_id": user,
                    "status": "going",
                    "position": position,
                    "via": "command",
                    "created_at": now,
                    "updated_at": now,
                }
                for position, user in enumerate(attendees, start=1)
            ],
        )
    plan = feature.jobs.plan(event_id, starts, starts + timedelta(hours=2))
    job_id, (kind, run_at) = next((k, v) for k, v in plan.items() if k.endswith(":2h"))
    assert abs((run_at + REMINDER_LEAD - due).total_seconds()) < 1
    await app.services.scheduler.schedule_once(job_id, kind, run_at, {"event": event_id})
    sent = await wait_sent(app, f"ev.remind.{event_id}.%", len(attendees), now)
    stamps = await server_seconds(synapse, token, sent)
    lateness = [(ts - due.timestamp()) * 1000 for ts in stamps]
    return {
        "remind_n": len(sent),
        "remind_p50": percentile(lateness, 0.5) if lateness else None,
        "remind_p95": percentile(lateness, 0.95) if lateness else None,
    }
