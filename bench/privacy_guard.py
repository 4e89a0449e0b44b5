"""The privacy guard on its test corpus (recall per category, false positives on
realistic case texts) and its time per text at 4 kB and 20 kB, clean and adversarial.

    .venv/bin/python bench/privacy_guard.py [--old REV]

``--old REV`` times the guard as it was at git revision REV (its file
``commands/casus/privacy_guard.py``) in the same run, next to the current one. The
adversarial texts are long runs of what the patterns repeat over: digits, digits with
spaces, letters, dotted words, numbers written as phone numbers, repeated titles.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.privacy_guard import CATEGORIES, categories, screen  # noqa: E402
from tests.unit.casus.corpus import clean_texts, personal_texts  # noqa: E402

SIZES = (4_000, 20_000)
ADVERSARIAL = {
    "digits": "1",
    "digits+spaces": "12 ",
    "digits+dots": "1.",
    "letters": "a",
    "capitals": "A",
    "dotted words": "ab.",
    "letters+digits": "A1",
    "phone-like": "06 ",
    "dashes": "0-",
    "'meneer '": "meneer ",
    "'Meneer van '": "Meneer van ",
    "BSNs": "111222333 ",
    "'tel 06...'": "tel 0612345678 ",
    "dates": "12 mei 1970 ",
}
Screen = Callable[[str], Any]


def load_old(revision: str) -> ModuleType:
    """The guard module as it was at ``revision``, loaded from a temporary file."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{revision}:commands/casus/privacy_guard.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "old_privacy_guard.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("old_privacy_guard", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def fill(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def best_of(fn: Screen, text: str, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - start)
    return best


def quality() -> None:
    personal = personal_texts()
    clean = clean_texts()
    print(f"corpus: {len(personal)} texts with personal data, {len(clean)} clean case texts")
    for category in CATEGORIES:
        texts = [t for t, wanted in personal if wanted == category]
        hits = sum(category in categories(t) for t in texts)
        print(f"recall {category:<10} {hits:>3}/{len(texts):<3} {hits / len(texts):6.1%}")
    flagged = [t for t in clean if screen(t)]
    print(f"false positives: {len(flagged)}/{len(clean)} = {len(flagged) / len(clean):.1%}")
    for text in flagged:
        print("  flagged:", text[:80], sorted(categories(text)))
    timings = []
    everything = [t for t, _ in personal] + clean
    for _ in range(5):
        for text in everything:
            start = time.perf_counter()
            screen(text)
            timings.append(time.perf_counter() - start)
    ms = sorted(t * 1000 for t in timings)
    print(
        f"time per corpus text ({statistics.fmean(len(t) for t in everything):.0f} chars on average): "
        f"mean {statistics.fmean(ms):.3f} ms, p95 {ms[int(0.95 * len(ms))]:.3f} ms"
    )


def long_texts(size: int) -> dict[str, str]:
    clean = " ".join(clean_texts())
    return {"clean case texts": fill(clean + " ", size)} | {
        name: fill(unit, size) for name, unit in ADVERSARIAL.items()
    }


def timing(old: Screen | None, runs: int) -> None:
    header = f"{'text':<18}" + "".join(
        f"{f'{size // 1000} kB now':>12}" + (f"{f'{size // 1000} kB old':>12}" if old else "")
        for size in SIZES
    )
    print(f"\ntime per text in ms (best of {runs}):")
    print(header)
    worst: dict[tuple[int, str], float] = {}
    rows: dict[str, list[str]] = {}
    for size in SIZES:
        for name, text in long_texts(size).items():
            cells = rows.setdefault(name, [])
            for label, fn in (("now", screen), ("old", old)):
                if fn is None:
                    continue
                seconds = best_of(fn, text, runs)
                cells.append(f"{seconds * 1000:12.1f}")
                if name != "clean case texts":
                    worst[(size, label)] = max(worst.get((size, label), 0.0), seconds)
    for name, cells in rows.items():
        print(f"{name:<18}" + "".join(cells))
    for (size, label), seconds in sorted(worst.items()):
        print(f"worst adversarial {size // 1000} kB {label}: {seconds * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", metavar="REV", help="also time the guard as it was at this git revision")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    quality()
    timing(load_old(args.old).screen if args.old else None, args.runs)


if __name__ == "__main__":
    main()
