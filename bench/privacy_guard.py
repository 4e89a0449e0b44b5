"""The privacy guard on its test corpus: recall per category, the false-positive rate on
realistic case texts, and the time it takes per text.

    .venv/bin/python bench/privacy_guard.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from commands.casus.privacy_guard import CATEGORIES, categories, screen  # noqa: E402
from tests.unit.casus.corpus import clean_texts, personal_texts  # noqa: E402


def main() -> None:
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
        f"time per text ({statistics.fmean(len(t) for t in everything):.0f} chars on average): "
        f"mean {statistics.fmean(ms):.3f} ms, p95 {ms[int(0.95 * len(ms))]:.3f} ms"
    )


if __name__ == "__main__":
    main()
