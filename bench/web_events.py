"""The organisers' events pages at size: 200 events and 5,000 sign-ups.

Builds a fresh SQLite file (200 announced events, 60 of them in the past 90 days, each
with 25 sign-ups of 1,000 members: 20 places and 5 on the waitlist; the past ones with
18 present; the opened event's members with a name for certificates and a NIP number), then
renders, in the process through aiohttp's test client with a logged-in session, the
events list and one past event's page (sign-ups, waitlist, attendance grid and the
presence lists) ``--requests`` times each, and prints p50/p95 in ms and the SQL
statements one request runs (they must not grow with the number of events).
Target: p95 under 100 ms.

    .venv/bin/python bench/web_events.py [--events 200] [--signups 5000] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event as sa_event
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import build_app  # noqa: E402
from bot.clock import FakeClock  # noqa: E402
from commands.accreditation.feature import Accreditation  # noqa: E402
from commands.accreditation.registers import check_number  # noqa: E402
from commands.events.models import Attendance, Event, Rsvp  # noqa: E402
from commands.organiser_web.feature import OrganiserWebFeature  # noqa: E402
from tests.fakes import ALICE, FakeTransport, make_config  # noqa: E402

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
PLACES = 20


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def populate(app: Any, events: int, signups: int, members: int) -> int:
    """The rows, written in bulk; returns the id of a past event to open."""
    per_event = max(signups // events, 1)
    past = min(60, events // 3)
    users = [f"@lid{i:04d}:localhost" for i in range(members)]
    event_rows, rsvp_rows, attendance_rows = [], [], []
    for n in range(events):
        starts = NOW + timedelta(days=(n - past) * 1.5 if n < past else (n - past + 1) * 2, hours=0.5)
        event_rows.append(
            {
                "id": n + 1,
                "uid": f"{uuid.uuid4()}@localhost",
                "title": f"Casus <b>{n + 1}</b> over werk en gezondheid",
                "starts_at": starts,
                "ends_at": starts + timedelta(hours=3),
                "place": "Utrecht",
                "form": "location",
                "accreditation": "3 punten NIP en BIG",
                "capacity": PLACES,
                "audience": [],
                "status": "announced",
                "organiser": ALICE,
                "sequence": 0,
                "signup_counter": per_event,
                "created_at": NOW - timedelta(days=100),
                "updated_at": NOW - timedelta(days=100),
            }
        )
        for k in range(per_event):
            user = users[(n * 37 + k) % members]
            rsvp_rows.append(
                {
                    "event_id": n + 1,
                    "user_id": user,
                    "status": "going" if k < PLACES else "waiting",
                    "position": k + 1,
                    "via": "command",
                    "created_at": NOW - timedelta(days=30),
                    "updated_at": NOW - timedelta(days=30),
                }
            )
            if n < past and k < 18:
                attendance_rows.append({"event_id": n + 1, "user_id": user, "recorded_at": starts})
    async with app.services.db.transaction() as session:
        await session.execute(insert(Event), event_rows)
        await session.execute(insert(Rsvp), rsvp_rows)
        await session.execute(insert(Attendance), attendance_rows)
    # Names and numbers for those signed up to the event the bench opens (what its
    # page reads; the list reads neither).
    store = next(f for f in app.features if isinstance(f, Accreditation)).store
    for row in rsvp_rows:
        if row["event_id"] == past:
            user = str(row["user_id"])
            await store.set_name(user, f"Lid {user[4:8]} <i>van</i> Kennisbrug")
            await store.set_number(user, check_number("NIP", f"{int(user[4:8]) + 1:08d}"))
    return past  # the last past event: full, with attendance


async def measure(client: TestClient, path: str, requests: int, statements: list[int]) -> list[float]:
    for _ in range(5):  # warm-up: templates compiled, connections open
        assert (await client.get(path)).status == 200
    timings, cpu, counts = [], [], []
    for _ in range(requests):
        before = len(statements)
        started, started_cpu = time.perf_counter(), time.process_time()
        answer = await client.get(path)
        await answer.read()
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        counts.append(len(statements) - before)
        assert answer.status == 200
    print(
        f"{path:<14} wall p50 {statistics.median(timings):6.1f} ms  p95 {percentile(timings, 0.95):6.1f} ms"
        f"  | CPU p50 {statistics.median(cpu):5.1f} ms  p95 {percentile(cpu, 0.95):5.1f} ms"
        f"  | SQL statements per request: {max(counts)}"
    )
    return timings


async def run(events: int, signups: int, members: int, requests: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        config = make_config(Path(tmp), web={"listen": "127.0.0.1:8099", "public_url": "http://web.test"})
        app = await build_app(config, clock=FakeClock(NOW), transport_factory=FakeTransport)
        try:
            started = time.perf_counter()
            event_id = await populate(app, events, signups, members)
            print(
                f"{events} events, {signups:,} sign-ups of {members:,} members written in "
                f"{time.perf_counter() - started:.1f} s (SQLite file)"
            )
            statements: list[int] = []
            sa_event.listen(
                app.services.db.engine.sync_engine,
                "before_cursor_execute",
                lambda *args: statements.append(1),
            )
            web = next(f for f in app.features if isinstance(f, OrganiserWebFeature))
            token, _ = await web.store.new_session(ALICE)
            async with TestClient(TestServer(web.web.application())) as client:
                client.session.cookie_jar.update_cookies({"kennisbrug_session": token})
                page = await (await client.get("/")).text()
                assert page.count("data-event=") == events, page.count("data-event=")
                listing = await measure(client, "/", requests, statements)
                one = await measure(client, f"/events/{event_id}", requests, statements)
            print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (on {os.cpu_count()} cores)")
            worst = max(percentile(listing, 0.95), percentile(one, 0.95))
            print(f"target p95 < 100 ms: {'met' if worst < 100 else 'NOT met'} (worst p95 {worst:.1f} ms)")
            return 0 if worst < 100 else 1
        finally:
            await app.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--signups", type=int, default=5000)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    return asyncio.run(run(args.events, args.signups, args.members, args.requests))


if __name__ == "__main__":
    sys.exit(main())
