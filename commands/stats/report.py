"""The organisers' report as data: counts from every source, the profession x
profession matrix and participation per week, with small cells suppressed.

Pure functions, so the suppression rule is tested without a database."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from commands.stats.sources import StatCount

MIN_CELL = 3
"""Counts from 1 up to ``MIN_CELL - 1`` could single out a person: they are shown as
"<3" and never leave the bot."""
DEFAULT_DAYS = 30
MAX_DAYS = 366
_PERIOD = re.compile(r"^(\d{1,3})\s*([dwm]?)$")
_UNIT_DAYS = {"": 1, "d": 1, "w": 7, "m": 30}


def parse_period(text: str | None) -> int | None:
    """``30d``, ``4w``, ``3m`` or ``30`` as a number of days; None when unreadable."""
    if text is None:
        return DEFAULT_DAYS
    found = _PERIOD.match(text.strip().lower())
    if found is None:
        return None
    days = int(found.group(1)) * _UNIT_DAYS[found.group(2)]
    return days if 1 <= days <= MAX_DAYS else None


def suppress(value: int) -> int | None:
    """The value, or None when it is small enough to identify someone (1 or 2)."""
    return None if 0 < value < MIN_CELL else value


def shown(value: int) -> str:
    kept = suppress(value)
    return f"<{MIN_CELL}" if kept is None else str(kept)


# Metrics whose value is not a count of people or events: shown only when the count
# they are computed from is large enough.
DERIVED = {"questions_median_hours": "questions_answered"}


@dataclass
class Report:
    since: date
    until: date
    counts: list[StatCount] = field(default_factory=list)
    matrix: dict[tuple[str, str], int] = field(default_factory=dict)
    weekly: dict[tuple[date, str], int] = field(default_factory=dict)

    def metrics(self) -> dict[str, dict[str | None, int]]:
        """metric -> profession (or None) -> value, derived values already withheld."""
        table: dict[str, dict[str | None, int]] = {}
        for count in self.counts:
            table.setdefault(count.metric, {})[count.profession] = count.value
        for metric, basis in DERIVED.items():
            if metric in table:
                base = table.get(basis, {})
                table[metric] = {p: v for p, v in table[metric].items() if base.get(p, 0) >= MIN_CELL}
        return table

    def professions(self) -> list[str]:
        found = {a for a, _ in self.matrix} | {b for _, b in self.matrix}
        found |= {c.profession for c in self.counts if c.profession}
        return sorted(found)

    def cross_total(self) -> int:
        return sum(n for (a, b), n in self.matrix.items() if a != b)

    def all_total(self) -> int:
        return sum(self.matrix.values())


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def to_csv(report: Report) -> bytes:
    """The report's counts as CSV (suppressed cells written as ``<3``), UTF-8 with BOM
    so spreadsheet programs read the accents right."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["section", "metric", "profession", "to_profession", "period_start", "period_end", "value"]
    )
    start, end = report.since.isoformat(), report.until.isoformat()
    for metric, values in report.metrics().items():
        for profession, value in sorted(values.items(), key=lambda kv: kv[0] or ""):
            shown_value = str(value) if metric in DERIVED else shown(value)
            writer.writerow(["counts", metric, profession or "", "", start, end, shown_value])
    for (a, b), value in sorted(report.matrix.items()):
        writer.writerow(["interactions", "replies", a, b, start, end, shown(value)])
    for (week, profession), value in sorted(report.weekly.items()):
        end_of_week = min(week + timedelta(days=6), report.until)
        writer.writerow(
            [
                "participation",
                "replies_given",
                profession,
                "",
                week.isoformat(),
                end_of_week.isoformat(),
                shown(value),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")
