"""``!zoek`` latency through the whole command path, in the process, on generated profiles.

For 1,000, 10,000 and 100,000 profiles in a real SQLite file: the bot is built as in
production (real router, catalogues, database, feature), only the chat network is a
recording transport. Each ``!zoek`` message goes through dispatch: flood control,
parsing, the directory search, rendering the result card and handing it to the
transport. ``!taal`` (a minimal command: read the member's language, answer one line)
through the same path, in the same run, is the baseline.

Run: ``.venv/bin/python bench/find_command.py`` (about a minute; ``--sizes 10000`` for one size).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from directory import generate_profiles  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from bot.app import build_app  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.ids import RoomId  # noqa: E402
from commands.introductions.feature import Introductions  # noqa: E402
from commands.introductions.models import Profile  # noqa: E402
from tests.fakes import FakeTransport, make_config, message  # noqa: E402

QUERIES = (
    "!zoek beroep=bedrijfsarts",
    "!zoek regio=utrecht",
    "!zoek beroep=arbeidsdeskundige regio=noord-brabant dag=di",
    "!zoek ervaring=diepgaand thema=kanker-en-werk",
    "!zoek zoekt=buddy dag=ma,wo",
    "!zoek re-integratie",
    "!zoek werkgever burn-out",
    "!zoek beroep=jobcoach regio=zeeland dag=wo",
    "!zoek regio=zuid-holland pagina=2",
    "!zoek",
)
THEMES = (
    "buikpijndossiers",
    "kanker-en-werk",
    "neurodiversiteit",
    "mentale-gezondheid",
    "fml-en-belastbaarheid",
    "demedicaliseren",
    "technologie-en-ai",
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure_size(size: int, repeats: int, workdir: Path) -> dict[str, Any]:
    themes = [{"key": key, "room": f"#{key}:localhost", "name": {"nl": key, "en": key}} for key in THEMES]
    config = make_config(workdir, themes=themes, flood={"burst": 10**9, "seconds_per_command": 0.000001})
    clock = SystemClock()
    app = await build_app(config, clock=clock, transport_factory=FakeTransport)
    app.services.rooms.set("welcome", RoomId("!welcome"))
    feature = next(f for f in app.features if isinstance(f, Introductions))
    professions = [p.key for p in app.services.professions.items]
    profiles = generate_profiles(size, 2027, THEMES, professions)
    now = datetime.now(UTC)
    started = time.perf_counter()
    async with app.services.db.transaction() as session:
        await session.execute(
            insert(Profile),
            [
                {
                    "user_id": p.user_id,
                    "profession": p.profession,
                    "experience": p.experience,
                    "years": p.years,
                    "region": p.region,
                    "setting": p.setting,
                    "work_days": list(p.work_days),
                    "meet_days": list(p.meet_days),
                    "goals": list(p.goals),
                    "themes": list(p.themes),
                    "meet_professions": list(p.meet_professions),
                    "about": p.about,
                    "weighing": p.weighing,
                    "listed": p.listed,
                    "spotlight": p.spotlight,
                    "consent_at": now,
                    "created_at": now,
                    "updated_at": p.updated_at or now,
                }
                for p in profiles
            ],
        )
    stored_s = time.perf_counter() - started
    started = time.perf_counter()
    await feature.start()  # loads the listed profiles into the directory, as at bot start
    load_s = time.perf_counter() - started

    async def run(text: str) -> float:
        before = len(app.transport.sent)
        begin = time.perf_counter()
        await app.router.dispatch(message(text, room="!welcome"))
        elapsed = (time.perf_counter() - begin) * 1000
        assert len(app.transport.sent) == before + 1, app.transport.sent[-1].plain[:200]
        return elapsed

    for text in (*QUERIES, "!taal"):  # warm-up, untimed
        await run(text)
    find: list[float] = []
    baseline: list[float] = []
    gc.collect()
    for _ in range(repeats):
        for text in QUERIES:
            find.append(await run(text))
            baseline.append(await run("!taal"))
        app.transport.sent.clear()
    await app.stop()
    return {
        "size": size,
        "listed": len(feature.directory),
        "store_s": stored_s,
        "load_s": load_s,
        "find_p50": percentile(find, 0.5),
        "find_p95": percentile(find, 0.95),
        "find_mean": statistics.fmean(find),
        "base_p50": percentile(baseline, 0.5),
        "base_p95": percentile(baseline, 0.95),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"!zoek through dispatch, {len(QUERIES)} queries x {args.repeats} rounds, interleaved with !taal")
    results = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            result = await measure_size(size, args.repeats, Path(tmp))
        results.append(result)
        print(
            f"{size:>7} profiles ({result['listed']} listed): stored {result['store_s']:.1f}s, "
            f"loaded {result['load_s']:.2f}s | !zoek p50 {result['find_p50']:.2f} ms, "
            f"p95 {result['find_p95']:.2f} ms | !taal p50 {result['base_p50']:.2f} ms, "
            f"p95 {result['base_p95']:.2f} ms | ratio p95 {result['find_p95'] / result['base_p95']:.2f}"
        )
    for smaller, larger in itertools.pairwise(results):
        print(
            f"growth {larger['size']}/{smaller['size']}: p50 x{larger['find_p50'] / smaller['find_p50']:.2f}, "
            f"p95 x{larger['find_p95'] / smaller['find_p95']:.2f}"
        )
    target = next((r for r in results if r["size"] == 10_000), None)
    if target is not None:
        verdict = "met" if target["find_p95"] < 20 else "NOT met"
        print(f"target p95 < 20 ms at 10,000 profiles: {target['find_p95']:.2f} ms, {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
