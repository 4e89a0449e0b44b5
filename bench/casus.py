"""What counting replies in a case thread costs, and the perspective meter with many replies.

Runs the real app (router, listener, profile lookup, SQLite database file, catalogues)
behind a recording transport, in one process, so the figures are the bot's own work
without the homeserver:

- a reply in a case thread: router -> listener -> profile -> contribution row (per message);
- a message in a room that is no case reply (the listener's fast path);
- the meter (read every contribution, count per profession, render) with many replies;
- ``!casus`` in the theme room, end to end, with those replies.

    .venv/bin/python bench/casus.py [--replies 2000] [--meter 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import build_app  # noqa: E402
from bot.clock import FakeClock  # noqa: E402
from bot.ids import EventId, RoomId, UserId  # noqa: E402
from bot.transport import IncomingMessage  # noqa: E402
from commands.casus.feature import Casus  # noqa: E402
from commands.casus.models import CasusContribution  # noqa: E402
from commands.introductions.store import ProfileStore  # noqa: E402
from tests.fakes import FakeTransport, make_config  # noqa: E402

PROFESSIONS = ["bedrijfsarts", "arbeidsdeskundige", "jobcoach", "hr-professional", "casemanager"]
ROOM = RoomId("!buikpijn")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(label: str, seconds: list[float]) -> None:
    ms = [s * 1000 for s in seconds]
    print(
        f"{label:<44} n={len(ms):>6}  mean {statistics.fmean(ms):7.3f} ms  "
        f"p50 {percentile(ms, 0.5):7.3f} ms  p95 {percentile(ms, 0.95):7.3f} ms"
    )


async def main(replies: int, meter_rows: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        clock = FakeClock(datetime(2027, 3, 16, 9, 30, 5, tzinfo=UTC))
        config = make_config(tmp, flood={"burst": 10**9, "seconds_per_command": 0.000001})
        app = await build_app(config, clock=clock, transport_factory=FakeTransport)
        app.services.rooms.set("theme:buikpijndossiers", ROOM)
        casus = next(f for f in app.features if isinstance(f, Casus))
        await casus.start()
        profiles = ProfileStore(app.services.db, clock)
        members = [UserId(f"@lid{i}:localhost") for i in range(200)]
        for i, member in enumerate(members):
            if i % 10:  # one in ten has no profile
                await profiles.save(member, {"profession": PROFESSIONS[i % len(PROFESSIONS)], "listed": True})
        run = await casus.posting.post_next("buikpijndossiers", "bench", case_id="bp-langlopend-dossier")
        assert run is not None and run.root_event_id
        root = EventId(run.root_event_id)

        def reply(i: int, thread: EventId | None) -> IncomingMessage:
            return IncomingMessage(
                event_id=EventId(f"$bench{i}{'t' if thread else 'r'}"),
                room_id=ROOM,
                sender=members[i % len(members)],
                body="Vanuit mijn vak zou ik eerst de overdracht herstellen.",
                timestamp=datetime.now(UTC),
                is_direct=False,
                thread_root=thread,
            )

        # Warm up (first DB connections, the one-time !intro hints of members without a profile).
        for i in range(len(members)):
            await app.router.dispatch(reply(10**6 + i, root))

        timings: list[float] = []
        for i in range(replies):
            message = reply(i, root)
            start = time.perf_counter()
            await app.router.dispatch(message)
            timings.append(time.perf_counter() - start)
        report("reply in a case thread (counted)", timings)

        timings = []
        for i in range(replies):
            message = reply(i, None)
            start = time.perf_counter()
            await app.router.dispatch(message)
            timings.append(time.perf_counter() - start)
        report("room message, no case reply (fast path)", timings)

        # The meter with many replies: add rows in bulk, then time reading and rendering it.
        async with app.services.db.transaction() as session:
            now = clock.now()
            for i in range(meter_rows):
                session.add(
                    CasusContribution(
                        event_id=f"$bulk{i}",
                        run_id=run.id,
                        user_id=f"@veel{i % 2000}:localhost",
                        profession=PROFESSIONS[i % len(PROFESSIONS)],
                        step=1,
                        created_at=now + timedelta(microseconds=i),
                    )
                )
        total = replies + len(members) + meter_rows
        timings = []
        for _ in range(20):
            start = time.perf_counter()
            meter = await casus.state.meter(run.id)
            casus.text.meter_text("nl", meter)
            timings.append(time.perf_counter() - start)
        report(f"meter over {total} replies", timings)

        timings = []
        for i in range(20):
            command = IncomingMessage(
                event_id=EventId(f"$cmd{i}"),
                room_id=ROOM,
                sender=members[1],
                body="!casus",
                timestamp=datetime.now(UTC),
                is_direct=False,
            )
            start = time.perf_counter()
            await app.router.dispatch(command)
            timings.append(time.perf_counter() - start)
        report(f"!casus end to end, {total} replies", timings)
        assert isinstance(app.transport, FakeTransport)
        print("meter:", app.transport.last().splitlines()[-1])
        await app.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=2000)
    parser.add_argument("--meter", type=int, default=20000)
    args = parser.parse_args()
    asyncio.run(main(args.replies, args.meter))
