"""Search latency of the member directory behind ``!zoek`` (commands/introductions/directory.py).

Builds fictional but realistic profiles (deterministic by seed), loads them into a
``DirectoryIndex`` at 1,000 / 10,000 / 100,000 members, and times ``search`` for a
fixed mix of queries members would type: one filter, two or three filters, free text,
no filter at all, and a second page. Prints the load time, p50/p95 per size, the
slowest query per size, and how latency grows with the directory (10k/1k, 100k/10k).
No network, no database: only the in-memory index.

    .venv/bin/python bench/directory.py [--sizes 1000 10000 100000] [--repeats 40]

``generate_profiles`` and ``measure`` are meant for reuse, e.g. to time the whole
``!zoek`` command path with the same profiles.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from commands.introductions.directory import DirectoryIndex, DirectoryQuery  # noqa: E402
from commands.introductions.records import ProfileRecord  # noqa: E402
from commands.introductions.vocabulary import (  # noqa: E402
    DAYS,
    EXPERIENCE,
    GOALS,
    NATIONWIDE,
    REGIONS,
    SETTINGS,
    Vocabulary,
)

# A fixed "now" so that a seed always gives the same profiles.
REFERENCE_TIME = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)

# Rough share of members per province (population-weighted), plus nationwide members
# and members who left the region empty.
REGION_WEIGHTS: dict[str | None, float] = {
    "groningen": 3,
    "friesland": 3.5,
    "drenthe": 2.5,
    "overijssel": 6.5,
    "flevoland": 2.5,
    "gelderland": 12,
    "utrecht": 8,
    "noord-holland": 16,
    "zuid-holland": 20,
    "zeeland": 2,
    "noord-brabant": 14.5,
    "limburg": 6.5,
    NATIONWIDE: 8,
    None: 4,
}

FIRST_NAMES = (
    "anne daan eva fleur jan joost karin lotte marieke mark noor pieter ruben sanne sem "
    "thijs wendy yusuf fatima mohamed ilse bram iris koen linda niels femke hans esther"
).split()
LAST_NAMES = (
    "jansen devries bakker visser smit meijer mulder bos vos peters hendriks dekker "
    "vandijk brouwer dejong vanleeuwen yilmaz elamrani kok schouten postma"
).split()
CITIES = (
    "Utrecht Zwolle Groningen Eindhoven Maastricht Leeuwarden Almere Arnhem Nijmegen "
    "Rotterdam Middelburg Assen Haarlem Tilburg Breda Enschede Amersfoort Den-Haag Delft"
).split()
TOPICS = (
    "burn-out",
    "re-integratie",
    "long covid",
    "kanker",
    "psychische klachten",
    "fysieke belasting",
    "arbeidsconflicten",
    "werkhervatting",
    "loonsancties",
    "de Wet verbetering poortwachter",
    "duurzame inzetbaarheid",
    "verzuimbegeleiding",
    "stress",
    "mantelzorg",
    "chronische pijn",
    "coördinatie van zorg",
    "het tweede spoor",
    "de WIA-aanvraag",
    "neurodiversiteit",
    "leidinggevenden",
    "jonge werknemers",
    "oudere werknemers",
    "privé-omstandigheden",
)
ORGANISATIONS = (
    "een arbodienst",
    "het UWV",
    "een gemeente",
    "mijn eigen praktijk",
    "een ziekenhuis",
    "een re-integratiebedrijf",
    "een zorginstelling",
    "de overheid",
    "een bouwbedrijf",
    "een onderwijsinstelling",
    "een transportbedrijf",
)
ADJECTIVES = ("ervaren", "enthousiaste", "nieuwsgierige", "zelfstandige", "startende", "betrokken")
FACTORS = (
    "belastbaarheid",
    "motivatie",
    "de werkgever",
    "het herstel",
    "de werknemer",
    "de termijnen",
    "de mogelijkheden",
    "de privacy",
    "het advies van de bedrijfsarts",
)
ABOUT_TEMPLATES = (
    "Ik ben een {adjective} {profession} bij {organisation} in {city}.",
    "Ik werk vooral met {topic} en {topic2}.",
    "Mijn focus ligt op {topic}.",
    "Graag denk ik mee over {topic} bij {organisation}.",
    "Sinds een paar jaar werk ik in {city} aan {topic}.",
    "Ik zoek collega's die ook met {topic} bezig zijn.",
)
WEIGHING_TEMPLATES = (
    "Bij twijfel weeg ik {factor} af tegen {factor2}.",
    "{Factor} gaat voor mij altijd voor {factor2}.",
    "Ik kijk eerst naar {factor}, daarna naar {factor2}.",
)


def generate_profiles(
    n: int, seed: int, themes: Sequence[str], professions: Sequence[str]
) -> list[ProfileRecord]:
    """``n`` fictional profiles, the same for the same arguments; about nine in ten listed."""
    rng = random.Random(seed)
    # Whom members want to meet comes from a generator of its own, so every other field
    # stays what it was before profiles had it (comparable timings across versions).
    meet_rng = random.Random(f"{seed}:meet")
    # A few professions (the first ones) are much more common than the rest.
    profession_weights = [1 / (rank + 1) for rank in range(len(professions))]
    region_keys = list(REGION_WEIGHTS)
    region_weights = list(REGION_WEIGHTS.values())
    day_keys = DAYS.keys()
    profiles = []
    for number in range(n):
        profession = rng.choices(professions, profession_weights)[0]
        work_days = tuple(sorted(rng.sample(day_keys, rng.randint(2, 5)), key=day_keys.index))
        meet_days = tuple(d for d in day_keys if d in work_days and rng.random() < 0.3)
        name = f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}{number}"
        profiles.append(
            ProfileRecord(
                user_id=f"@{name}:kennisbrug.nl",
                profession=profession,
                experience=rng.choice((*EXPERIENCE.keys(), None)),
                years=rng.randint(0, 40) if rng.random() < 0.8 else None,
                region=rng.choices(region_keys, region_weights)[0],
                setting=rng.choice((*SETTINGS.keys(), None)),
                work_days=work_days,
                meet_days=meet_days,
                goals=tuple(rng.sample(GOALS.keys(), rng.randint(0, 3))),
                themes=tuple(rng.sample(list(themes), min(len(themes), rng.randint(0, 3)))),
                meet_professions=tuple(
                    meet_rng.sample(list(professions), meet_rng.randint(1, 3))
                    if meet_rng.random() < 0.4
                    else ()
                ),
                about=_about(rng, profession) if rng.random() < 0.85 else None,
                weighing=_weighing(rng) if rng.random() < 0.5 else None,
                listed=rng.random() < 0.92,
                spotlight=rng.random() < 0.1,
                updated_at=(
                    REFERENCE_TIME - timedelta(seconds=rng.randint(0, 2 * 365 * 86400))
                    if rng.random() < 0.98
                    else None
                ),
            )
        )
    return profiles


def _about(rng: random.Random, profession: str) -> str:
    sentences = rng.sample(ABOUT_TEMPLATES, rng.randint(1, 3))
    topic, topic2 = rng.sample(TOPICS, 2)
    return " ".join(
        s.format(
            adjective=rng.choice(ADJECTIVES),
            profession=profession.replace("-", " "),
            organisation=rng.choice(ORGANISATIONS),
            city=rng.choice(CITIES).replace("-", " "),
            topic=topic,
            topic2=topic2,
        )
        for s in sentences
    )


def _weighing(rng: random.Random) -> str:
    factor, factor2 = rng.sample(FACTORS, 2)
    template = rng.choice(WEIGHING_TEMPLATES)
    return template.format(factor=factor, Factor=factor.capitalize(), factor2=factor2)


def load_labels() -> tuple[list[str], list[str], dict[str, str]]:
    """Profession keys, theme keys and a label text (both languages) per key."""
    professions_file = yaml.safe_load((ROOT / "config/professions.yaml").read_text(encoding="utf-8"))
    example = yaml.safe_load((ROOT / "config/example.yaml").read_text(encoding="utf-8"))
    labels: dict[str, str] = {}
    for item in professions_file["professions"]:
        labels[item["key"]] = " ".join(item["label"].values())
    for item in example["themes"]:
        labels[item["key"]] = " ".join(item["name"].values())
    professions = [item["key"] for item in professions_file["professions"]]
    themes = [item["key"] for item in example["themes"]]
    return professions, themes, labels


def make_describe(labels: Mapping[str, str]) -> Callable[[ProfileRecord], str]:
    """What the feature's describe() returns, near enough: labels in both languages
    (aliases stand in for the catalogue labels of the fixed lists) and the own texts."""

    def vocabulary_label(vocabulary: Vocabulary, key: str) -> str:
        for term in vocabulary.terms:
            if term.key == key:
                return " ".join((term.key, *term.aliases[:2]))
        return key

    def describe(record: ProfileRecord) -> str:
        parts = [labels.get(record.profession, record.profession)]
        if record.experience:
            parts.append(vocabulary_label(EXPERIENCE, record.experience))
        if record.region:
            parts.append(vocabulary_label(REGIONS, record.region))
        if record.setting:
            parts.append(vocabulary_label(SETTINGS, record.setting))
        parts.extend(vocabulary_label(DAYS, d) for d in (*record.work_days, *record.meet_days))
        parts.extend(vocabulary_label(GOALS, g) for g in record.goals)
        parts.extend(labels.get(t, t) for t in record.themes)
        parts.extend(t for t in (record.about, record.weighing) if t)
        return " ".join(parts)

    return describe


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def measure(
    search: Callable[..., Any], queries: Sequence[tuple[str, tuple[Any, ...]]], repeats: int
) -> dict[str, Any]:
    """Time ``search(*args)`` for each ``(label, args)``, ``repeats`` rounds after one
    untimed warm-up round; queries are interleaved so machine noise hits all alike.

    Returns milliseconds: ``p50``, ``p95``, ``max``, ``mean`` over all calls, ``calls``,
    and ``per_query`` ({label: {"p50", "p95"}}).
    """
    for _, args in queries:
        search(*args)
    samples: dict[str, list[float]] = {label: [] for label, _ in queries}
    gc.collect()
    for _ in range(repeats):
        for label, args in queries:
            start = time.perf_counter()
            search(*args)
            samples[label].append((time.perf_counter() - start) * 1000)
    every = [ms for values in samples.values() for ms in values]
    return {
        "p50": percentile(every, 0.50),
        "p95": percentile(every, 0.95),
        "max": max(every),
        "mean": statistics.fmean(every),
        "calls": len(every),
        "per_query": {
            label: {"p50": percentile(values, 0.50), "p95": percentile(values, 0.95)}
            for label, values in samples.items()
        },
    }


def directory_queries() -> list[tuple[str, tuple[Any, ...]]]:
    """The fixed mix, as ``(label, (query, page))`` for ``DirectoryIndex.search``."""

    def query(**fields: Any) -> DirectoryQuery:
        converted: dict[str, Any] = {k: tuple(v) if k == "words" else frozenset(v) for k, v in fields.items()}
        return DirectoryQuery(**converted)

    return [
        ("profession", (query(professions={"bedrijfsarts"}), 1)),
        ("region", (query(regions={"utrecht"}), 1)),
        ("day", (query(days={"vr"}), 1)),
        ("profession+region", (query(professions={"arbeidsdeskundige"}, regions={"noord-brabant"}), 1)),
        (
            "experience+theme+day",
            (query(experience={"diepgaand"}, themes={"kanker-en-werk"}, days={"di"}), 1),
        ),
        ("days+goal", (query(days={"ma", "wo"}, goals={"buddy"}), 1)),
        ("profession+meets", (query(professions={"bedrijfsarts"}, meet_professions={"jobcoach"}), 1)),
        ("rare: 3 filters", (query(professions={"jobcoach"}, regions={"zeeland"}, days={"wo"}), 1)),
        ("text: 1 word", (query(words=["re-integratie"]), 1)),
        ("text: 2 words", (query(words=["burn-out", "werkgever"]), 1)),
        ("text: common word", (query(words=["werk"]), 1)),
        ("theme+text", (query(themes={"mentale-gezondheid"}, words=["stress"]), 1)),
        ("no filter", (query(), 1)),
        ("no filter, page 2", (query(), 2)),
        ("region, page 2", (query(regions={"zuid-holland"}), 2)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--seed", type=int, default=2027)
    args = parser.parse_args()

    professions, themes, labels = load_labels()
    describe = make_describe(labels)
    queries = directory_queries()
    process = psutil.Process()
    results: dict[int, dict[str, Any]] = {}
    print(f"{len(queries)} queries x {args.repeats} rounds per size, page size 10, seed {args.seed}")
    for size in args.sizes:
        started = time.perf_counter()
        profiles = generate_profiles(size, args.seed, themes, professions)
        generated = time.perf_counter() - started
        index = DirectoryIndex(describe)
        gc.collect()
        rss_before = process.memory_info().rss
        started = time.perf_counter()
        index.load(profiles)
        loaded = time.perf_counter() - started
        rss_growth = (process.memory_info().rss - rss_before) / 2**20
        result = measure(index.search, queries, args.repeats)
        results[size] = result
        slowest = max(result["per_query"].items(), key=lambda item: item[1]["p95"])
        print(
            f"{size:>7} profiles ({len(index)} listed): generate {generated:.2f}s, load {loaded:.2f}s "
            f"(+{rss_growth:.0f} MiB RSS) | search p50 {result['p50']:.3f} ms, p95 {result['p95']:.3f} ms, "
            f"max {result['max']:.2f} ms | slowest p95: {slowest[0]} {slowest[1]['p95']:.3f} ms"
        )
        del index, profiles
    print("\nper query, p95 ms:")
    print(f"{'query':<22}" + "".join(f"{size:>10}" for size in args.sizes))
    for label, _ in queries:
        print(f"{label:<22}" + "".join(f"{results[s]['per_query'][label]['p95']:>10.3f}" for s in args.sizes))
    print("\ngrowth:")
    for small, large in zip(args.sizes, args.sizes[1:], strict=False):
        p50 = results[large]["p50"] / results[small]["p50"]
        p95 = results[large]["p95"] / results[small]["p95"]
        print(f"  {large}/{small}: p50 x{p50:.2f}, p95 x{p95:.2f} (size x{large / small:g})")


if __name__ == "__main__":
    main()
