"""How long the weekly digest job takes for 10,000 subscribers, and whether the nudge
budget holds.

Builds a community in a fresh SQLite file (profiles across the professions and themes,
open questions to every profession, pending buddy offers, newcomers of the week, an open
case in every theme, upcoming events with sign-ups, and members whose weekly nudge
budget is already used up), then runs the Monday job once
(``Digest.send_all``) and prints its time, how much the resident memory grew (with
``--trace`` also Python's peak allocations), how many digests were planned, and the
most nudges one member got in one budget week. Target: under 60 s, budget held.

As a baseline measured in the same run, a sample of members is then planned both ways:
one ``NudgeService.nudge()`` call per member (the path the job took before batching)
and one ``nudge_many()`` call, and the ratio is printed.

Peak memory is the process's resident high-water mark during the job alone (Linux
resets it just before the job through ``/proc/self/clear_refs``; elsewhere it is the
high-water mark since start).

    .venv/bin/python bench/digest.py [--members 10000] [--sample 300] [--seed 7] [--trace]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select

from bot.app import build_app
from bot.clock import FakeClock
from bot.ids import RoomId
from bot.nudges.planning import NudgeRequest
from bot.nudges.timing import budget_week
from bot.storage.models import Nudge
from commands.buddy.models import BuddyOffer, BuddyRequest
from commands.casus.models import CasusContribution, CasusRun
from commands.digest.feature import Digest
from commands.digest.models import DigestSubscription
from commands.digest.sources import markup_param
from commands.events.models import Event, Rsvp
from commands.introductions.models import Profile
from commands.questions.models import Question
from tests.fakes import FakeTransport, make_config

PROFESSIONS = [
    "bedrijfsarts",
    "verzekeringsarts",
    "arboarts",
    "arbeidsdeskundige",
    "re-integratieprofessional",
    "jobcoach",
    "hr-professional",
    "casemanager",
    "ervaringsdeskundige",
]
THEMES = [
    "buikpijndossiers",
    "kanker-en-werk",
    "neurodiversiteit",
    "mentale-gezondheid",
    "fml-en-belastbaarheid",
]
STATUS = Path("/proc/self/status")
MONDAY = datetime(2027, 3, 22, 7, 30, tzinfo=UTC)  # 08:30 in Amsterdam
TARGET_S = 60.0
BUDGET = 3


async def populate(db, members: int, rng: random.Random) -> list[str]:  # type: ignore[no-untyped-def]
    users = [f"@member{i}:localhost" for i in range(members)]
    long_ago = MONDAY - timedelta(days=90)
    profiles = []
    for index, user in enumerate(users):
        created = MONDAY - timedelta(days=rng.randint(1, 6)) if index % 50 == 0 else long_ago
        profiles.append(
            {
                "user_id": user,
                "profession": rng.choice(PROFESSIONS),
                "work_days": [],
                "meet_days": [],
                "goals": [],
                "themes": rng.sample(THEMES, rng.randint(0, 2)),
                # A third chose professions to meet (the digest then lists those newcomers).
                # (no draw from rng, so the other fields stay as they were).
                "meet_professions": [PROFESSIONS[index // 3 % len(PROFESSIONS)]] if index % 3 == 0 else [],
                "listed": True,
                "spotlight": False,
                "consent_at": created,
                "created_at": created,
                "updated_at": created,
            }
        )
    async with db.transaction() as session:
        await session.execute(insert(Profile), profiles)
        await session.execute(
            insert(DigestSubscription),
            [{"user_id": u, "enabled": True, "rhythm": "weekly", "updated_at": long_ago} for u in users],
        )
        await session.execute(
            insert(Question),
            [
                {
                    "asker_id": rng.choice(users),
                    "profession": PROFESSIONS[i % len(PROFESSIONS)],
                    "text": f"Vraag {i}: hoe wegen jullie de belastbaarheid bij wisselende klachten?",
                    "status": "open",
                    "source_event": f"$src{i}",
                    "room_id": "!questions",
                    "event_id": f"$q{i}",
                    "answers": 0,
                    "rounds": 1,
                    "created_at": MONDAY - timedelta(days=2),
                }
                for i in range(60)
            ],
        )
        for i in range(200):
            request = BuddyRequest(
                requester_id=rng.choice(users),
                status="searching",
                criteria={},
                topic=None,
                source_event=f"$b{i}",
                created_at=MONDAY - timedelta(days=1),
                updated_at=MONDAY - timedelta(days=1),
            )
            session.add(request)
            await session.flush()
            session.add(
                BuddyOffer(
                    request_id=request.id,
                    candidate_id=rng.choice(users),
                    status="pending",
                    score=3,
                    offered_at=MONDAY - timedelta(days=1),
                    answered_at=None,
                )
            )
        # An open case in every theme, each heard by a few professions so far.
        for index, theme in enumerate(THEMES):
            run = CasusRun(
                theme=theme,
                slot=f"bench-{index}",
                case_id="bp-arbeidsconflict",
                round=1,
                room_id=f"!theme{index}",
                root_event_id=f"$case{index}",
                status="open",
                step=2,
                claimed_at=MONDAY - timedelta(days=6),
                posted_at=MONDAY - timedelta(days=6),
                closed_at=None,
            )
            session.add(run)
            await session.flush()
            session.add_all(
                CasusContribution(
                    event_id=f"$case{index}-reply{n}",
                    run_id=run.id,
                    user_id=rng.choice(users),
                    profession=profession,
                    step=1,
                    created_at=MONDAY - timedelta(days=5),
                )
                for n, profession in enumerate(rng.sample(PROFESSIONS, 3))
            )
        # Upcoming events, some for a few professions only, with sign-ups.
        for i in range(12):
            starts = MONDAY + timedelta(days=3 + 2 * i)
            event = Event(
                uid=f"bench-{i}@localhost",
                title=f"Intervisie {i}",
                starts_at=starts,
                ends_at=starts + timedelta(hours=2),
                form="online",
                audience=rng.sample(PROFESSIONS, 2) if i % 3 == 0 else [],
                status="announced",
                sequence=0,
                signup_counter=0,
                created_at=MONDAY - timedelta(days=7),
                updated_at=MONDAY - timedelta(days=7),
            )
            session.add(event)
            await session.flush()
            session.add_all(
                Rsvp(
                    event_id=event.id,
                    user_id=user,
                    status="going",
                    position=n,
                    via="command",
                    created_at=MONDAY - timedelta(days=2),
                    updated_at=MONDAY - timedelta(days=2),
                )
                for n, user in enumerate(rng.sample(users, min(40, len(users))))
            )
        # One member in ten has used this week's budget already.
        await session.execute(
            insert(Nudge),
            [
                {
                    "user_id": u,
                    "kind": "bench",
                    "dedupe_key": f"bench:{u}:{n}",
                    "message_key": "digest.more",
                    "params": {"count": 1},
                    "created_at": MONDAY - timedelta(minutes=5),
                    "deliver_at": MONDAY - timedelta(minutes=5),
                    "status": "sent",
                    "sent_at": MONDAY - timedelta(minutes=5),
                    "expires_at": None,
                }
                for u in users[::10]
                for n in range(BUDGET)
            ],
        )
    return users


def reset_peak_rss() -> bool:
    """Start a new resident high-water mark (Linux); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """The resident high-water mark (since the last reset, on Linux), in MB."""
    if STATUS.exists():
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def baseline(app, digest: Digest, users: list[str], sample: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Seconds to plan ``sample`` digests one ``nudge()`` at a time, and as one batch.

    Each way builds the bodies (as the job does) and plans them under keys of its own,
    for a different sample of members, so neither sees the other's nudges."""
    nudges = app.services.nudges
    single_users = users[1::10][:sample]  # members with budget left, like most
    batch_users = users[3::10][:sample]

    started = time.perf_counter()
    bodies = await digest.build([(u, "weekly") for u in single_users], MONDAY)
    for user, body in bodies.items():
        await nudges.nudge(
            user, "digest", "digest.message", {"body": markup_param(body)}, dedupe_key=f"bench:single:{user}"
        )
    single = time.perf_counter() - started

    started = time.perf_counter()
    bodies = await digest.build([(u, "weekly") for u in batch_users], MONDAY)
    await nudges.nudge_many(
        [
            NudgeRequest(u, "digest", "digest.message", {"body": markup_param(b)}, f"bench:batch:{u}")
            for u, b in bodies.items()
        ]
    )
    return single, time.perf_counter() - started


async def run(members: int, seed: int, sample: int, trace: bool = False) -> int:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        config = make_config(Path(tmp), nudges={"weekly_budget": BUDGET, "quiet_weekends": True})
        clock = FakeClock(MONDAY)
        app = await build_app(config, clock=clock, transport_factory=FakeTransport)
        app.services.rooms.set("questions", RoomId("!questions"))
        digest = next(f for f in app.features if isinstance(f, Digest))
        digest.sources = [f for f in app.features if hasattr(f, "digest_sections")]  # as start() does
        started = time.perf_counter()
        users = await populate(app.services.db, members, rng)
        print(f"community of {members:,} members built in {time.perf_counter() - started:.1f} s")

        rss_before = peak_rss_mb()
        resettable = reset_peak_rss()
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        planned = await digest.send_all(MONDAY)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory() if trace else (0, 0)
        tracemalloc.stop()
        rss_peak = peak_rss_mb()

        async with app.services.db.session() as session:
            rows = (await session.execute(select(Nudge.user_id, Nudge.deliver_at, Nudge.status))).all()
            dropped = await session.scalar(
                select(func.count())
                .select_from(Nudge)
                .where(Nudge.kind == "digest", Nudge.status == "dropped")
            )
        per_week: Counter[tuple[str, datetime]] = Counter()
        for user, deliver_at, status in rows:
            if status in ("pending", "sent"):
                per_week[(user, budget_week(app.services.nudges.policy, deliver_at)[0])] += 1
        worst = max(per_week.values())
        deferred = sum(
            1
            for user, deliver_at, status in rows
            if status == "pending" and deliver_at > MONDAY + timedelta(days=1)
        )
        # After the budget was counted: the sample's nudges must not change that figure.
        sample = min(sample, members // 10)
        single, batch = await baseline(app, digest, users, sample) if sample else (0.0, 0.0)
        await app.stop()

    print(
        f"digest job for {members:,} subscribers: {elapsed:.1f} s ({elapsed / members * 1000:.2f} ms a member)"
    )
    print(f"digests planned: {planned:,}; dropped (would expire before the budget allows): {dropped or 0:,}")
    print(f"deferred past Monday because the week's budget was used: {deferred:,}")
    if resettable:
        print(f"peak memory during the job: {rss_peak:.0f} MB resident (before the job: {rss_before:.0f} MB)")
    else:
        print(f"peak memory: {rss_peak:.0f} MB resident since start (before the job: {rss_before:.0f} MB)")
    if trace:
        print(f"peak Python allocations during the job: {peak / 1e6:.1f} MB (tracemalloc; slows the run)")
    print(f"most nudges for one member in one budget week: {worst} (budget {BUDGET})")
    if sample:
        print(
            f"baseline, {sample} members in this run: one nudge() each {single:.2f} s "
            f"({single / sample * 1000:.2f} ms a member, about {single / sample * members:.0f} s for {members:,}); "
            f"one nudge_many() {batch:.2f} s ({batch / sample * 1000:.2f} ms a member); "
            f"batched is {single / batch:.1f}x faster"
        )
    ok = elapsed < TARGET_S and worst <= BUDGET
    print(f"target under {TARGET_S:.0f} s and budget held: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=300, help="members in the one-by-one baseline")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trace", action="store_true", help="also trace Python allocations (slower)")
    args = parser.parse_args()
    return asyncio.run(run(args.members, args.seed, args.sample, args.trace))


if __name__ == "__main__":
    raise SystemExit(main())
