"""What the member directory is asked and what it answers: a :class:`DirectoryQuery`,
a :class:`SearchPage`, the :class:`DirectoryCounts`; and how texts are compared (folded:
no case, no accents, single spaces)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from commands.introductions.records import ProfileRecord

# The combining-mark blocks of Latin script (and general diacritics): what NFKD splits
# off é, ü, ô, ç … A regex strips them far faster than testing every character.
_COMBINING_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def fold(text: str) -> str:
    """``text`` without case, accents or repeated whitespace, for substring matching."""
    if not text.isascii():
        text = _COMBINING_MARKS.sub("", unicodedata.normalize("NFKD", text))
    return " ".join(text.casefold().split())


@dataclass(frozen=True)
class DirectoryQuery:
    """What a member searches for; every empty field means "any"."""

    professions: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    experience: frozenset[str] = frozenset()
    days: frozenset[str] = frozenset()
    themes: frozenset[str] = frozenset()
    goals: frozenset[str] = frozenset()
    # Members who would like to meet one of these professions.
    meet_professions: frozenset[str] = frozenset()
    words: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (
            self.professions
            or self.regions
            or self.experience
            or self.days
            or self.themes
            or self.goals
            or self.meet_professions
            or any(fold(w) for w in self.words)
        )


@dataclass(frozen=True)
class SearchPage:
    """One page of results; ``page`` is the page actually shown (clamped), ``pages`` >= 1."""

    results: list[ProfileRecord]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class DirectoryCounts:
    """Listed members per profession and per region (members without a region are only
    in ``total``); keys sorted, values never zero."""

    by_profession: dict[str, int]
    by_region: dict[str, int]
    total: int


def query_words(words: Iterable[str]) -> list[str]:
    """Folded, de-duplicated words (phrases keep single spaces), in query order."""
    seen: dict[str, None] = {}
    for word in words:
        folded = fold(word)
        if folded:
            seen.setdefault(folded, None)
    return list(seen)
