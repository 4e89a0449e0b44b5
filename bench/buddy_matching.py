"""How long buddy matching takes for 1,000, 10,000 and 100,000 available candidates.

Generates a community of random profiles (professions, experience levels, provinces,
themes and days drawn like a real community's), then ranks many different requests
against it and prints p50 and p95 per size. Target: p95 under 50 ms at 10,000.

    .venv/bin/python bench/buddy_matching.py [--queries 200] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from commands.buddy.matching import BuddyQuery, Candidate, CandidatePool

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
    "anders",
]
LEVELS = ["frisse-blik", "ervaren", "diepgaand"]
REGIONS = [
    "groningen",
    "friesland",
    "drenthe",
    "overijssel",
    "flevoland",
    "gelderland",
    "utrecht",
    "noord-holland",
    "zuid-holland",
    "zeeland",
    "noord-brabant",
    "limburg",
    "landelijk",
]
THEMES = [
    "buikpijndossiers",
    "kanker-en-werk",
    "neurodiversiteit",
    "mentale-gezondheid",
    "fml-en-belastbaarheid",
    "poortwachter-uwv-gemeenten",
    "demedicaliseren",
    "technologie-en-ai",
    "samenwerking-in-de-keten",
]
DAYS = ["ma", "di", "wo", "do", "vr"]
TODAY = date(2027, 3, 16)
TARGET_MS = 50.0


def generate_candidates(count: int, rnd: random.Random) -> list[Candidate]:
    return [
        Candidate(
            user_id=f"@member{i}:example.org",
            profession=rnd.choice(PROFESSIONS),
            experience=rnd.choice([*LEVELS, None]),
            region=rnd.choice([*REGIONS, None]),
            themes=frozenset(rnd.sample(THEMES, rnd.randint(0, 3))),
            days=frozenset(rnd.sample(DAYS, rnd.randint(0, 3))),
            active_pairs=rnd.choice([0, 0, 0, 1]),
            max_pairs=rnd.choice([1, 1, 2]),
            paused_until=TODAY + timedelta(days=10) if rnd.random() < 0.05 else None,
        )
        for i in range(count)
    ]


def random_query(rnd: random.Random, count: int) -> BuddyQuery:
    return BuddyQuery(
        requester=f"@member{rnd.randrange(count)}:example.org",
        requester_profession=rnd.choice(PROFESSIONS),
        requester_experience=rnd.choice(LEVELS),
        requester_region=rnd.choice(REGIONS),
        requester_themes=frozenset(rnd.sample(THEMES, 2)),
        requester_days=frozenset(rnd.sample(DAYS, 2)),
        professions=frozenset(rnd.sample(PROFESSIONS, 1)) if rnd.random() < 0.3 else frozenset(),
        experience=frozenset(rnd.sample(LEVELS, 1)) if rnd.random() < 0.3 else frozenset(),
        themes=frozenset(rnd.sample(THEMES, 1)) if rnd.random() < 0.3 else frozenset(),
        cross_profession=rnd.random() < 0.3,
        excluded=frozenset(f"@member{rnd.randrange(count)}:example.org" for _ in range(5)),
        today=TODAY,
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    print(f"buddy matching, {args.queries} requests per size (best candidate plus 9 more)")
    print(f"{'candidates':>11} {'build ms':>9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    verdict = 0
    for size in (1_000, 10_000, 100_000):
        candidates = generate_candidates(size, rnd)
        started = time.perf_counter()
        pool = CandidatePool(candidates)
        build_ms = (time.perf_counter() - started) * 1000
        timings = []
        for _ in range(args.queries if size < 100_000 else max(args.queries // 4, 20)):
            query = random_query(rnd, size)
            started = time.perf_counter()
            pool.rank(query, limit=10)
            timings.append((time.perf_counter() - started) * 1000)
        p50, p95 = statistics.median(timings), percentile(timings, 0.95)
        print(f"{size:>11,} {build_ms:>9.1f} {p50:>8.2f} {p95:>8.2f} {max(timings):>8.2f}")
        if size == 10_000 and p95 >= TARGET_MS:
            verdict = 1
    print(f"target: p95 < {TARGET_MS:g} ms at 10,000 candidates: {'met' if verdict == 0 else 'NOT met'}")
    return verdict


if __name__ == "__main__":
    raise SystemExit(main())
