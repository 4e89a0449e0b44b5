"""Who fits a buddy request best: pure, synchronous, no I/O.

The feature builds a :class:`CandidatePool` from the listed profiles of members who
said they are available (``!buddy beschikbaar ja``) and asks :func:`rank` for the best
candidates of one :class:`BuddyQuery`.

Never proposed: the requester, anyone in ``query.excluded`` (blocked either way,
already asked for this request, a previous partner unless asked for), anyone at
capacity (as many active pairs as they take on) and anyone paused until after today.

Hard filters: a requested profession (``beroep=``) and experience (``ervaring=``)
must match when given.

Score, higher is better (weights below):

- two-sided mentoring: a newcomer (frisse blik) with an experienced member, either
  way round, because both learn; a smaller bonus for any other difference in
  experience;
- shared themes: per theme the candidate shares with the request (or, when the
  request names none, with the requester's profile);
- overlapping meeting days: per shared day (requested days, else the requester's own);
- region: the same province, a neighbouring province, or either side working
  nationwide (``landelijk``);
- crossing professions, when the requester asked for it.

Ties go to the candidate with fewer active pairs (spreading the load), then to the
user id, so the order is total and the same on every run.

Speed: themes and days are bit masks and regions small integers, so a candidate costs
a few integer operations; ``heapq.nsmallest`` keeps only the ``limit`` best.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

NATIONWIDE = "landelijk"

EXPERIENCE_LEVEL = {"frisse-blik": 0, "ervaren": 1, "diepgaand": 2}

# Provinces that share a border (or the Afsluitdijk); symmetric, a test checks it.
_BORDERS: tuple[tuple[str, str], ...] = (
    ("groningen", "friesland"),
    ("groningen", "drenthe"),
    ("friesland", "drenthe"),
    ("friesland", "overijssel"),
    ("friesland", "flevoland"),
    ("friesland", "noord-holland"),
    ("drenthe", "overijssel"),
    ("overijssel", "flevoland"),
    ("overijssel", "gelderland"),
    ("flevoland", "gelderland"),
    ("flevoland", "utrecht"),
    ("flevoland", "noord-holland"),
    ("gelderland", "utrecht"),
    ("gelderland", "zuid-holland"),
    ("gelderland", "noord-brabant"),
    ("gelderland", "limburg"),
    ("utrecht", "noord-holland"),
    ("utrecht", "zuid-holland"),
    ("noord-holland", "zuid-holland"),
    ("zuid-holland", "zeeland"),
    ("zuid-holland", "noord-brabant"),
    ("zeeland", "noord-brabant"),
    ("noord-brabant", "limburg"),
)
NEIGHBOURS: dict[str, frozenset[str]] = {}
for _a, _b in _BORDERS:
    NEIGHBOURS[_a] = NEIGHBOURS.get(_a, frozenset()) | {_b}
    NEIGHBOURS[_b] = NEIGHBOURS.get(_b, frozenset()) | {_a}

# Weights of the score (see the module docstring).
MENTORING_WEIGHT = 4  # a newcomer with an experienced member
DIFFERENT_LEVEL_WEIGHT = 1  # any other difference in experience
THEME_WEIGHT = 2
DAY_WEIGHT = 1
SAME_REGION_WEIGHT = 3
NEIGHBOUR_REGION_WEIGHT = 2
NATIONWIDE_REGION_WEIGHT = 1
CROSS_PROFESSION_WEIGHT = 2


@dataclass(frozen=True)
class Candidate:
    """A member who may become someone's buddy, as matching needs to know them."""

    user_id: str
    profession: str
    experience: str | None = None
    region: str | None = None
    themes: frozenset[str] = frozenset()
    days: frozenset[str] = frozenset()  # days they meet on (or work on, if they gave none)
    active_pairs: int = 0
    max_pairs: int = 1
    paused_until: date | None = None


@dataclass(frozen=True)
class BuddyQuery:
    """One request: who asks, what they want, and who is out of the question."""

    requester: str
    requester_profession: str | None = None
    requester_experience: str | None = None
    requester_region: str | None = None
    requester_themes: frozenset[str] = frozenset()
    requester_days: frozenset[str] = frozenset()
    professions: frozenset[str] = frozenset()  # hard filter when not empty
    experience: frozenset[str] = frozenset()  # hard filter when not empty
    regions: frozenset[str] = frozenset()  # preferred regions (else the requester's)
    days: frozenset[str] = frozenset()  # preferred days (else the requester's)
    themes: frozenset[str] = frozenset()  # preferred themes (else the requester's)
    cross_profession: bool = False
    excluded: frozenset[str] = frozenset()
    today: date = date(1970, 1, 1)


@dataclass(frozen=True)
class Match:
    user_id: str
    score: int


def is_eligible(query: BuddyQuery, candidate: Candidate) -> bool:
    """The rules that always hold, whatever the score (also used by the tests)."""
    if candidate.user_id == query.requester or candidate.user_id in query.excluded:
        return False
    if candidate.active_pairs >= candidate.max_pairs:
        return False
    if candidate.paused_until is not None and candidate.paused_until > query.today:
        return False
    if query.professions and candidate.profession not in query.professions:
        return False
    return not (query.experience and candidate.experience not in query.experience)


def mentoring_score(requester: str | None, candidate: str | None) -> int:
    """Two-sided mentoring: a newcomer with an experienced member scores highest."""
    if requester not in EXPERIENCE_LEVEL or candidate not in EXPERIENCE_LEVEL:
        return 0
    low, high = sorted((EXPERIENCE_LEVEL[requester], EXPERIENCE_LEVEL[candidate]))
    if low == 0 and high >= 1:
        return MENTORING_WEIGHT
    return DIFFERENT_LEVEL_WEIGHT if low != high else 0


def region_score(wanted: Iterable[str], region: str | None) -> int:
    """The best of: same region, a neighbouring one, or nationwide on either side."""
    wanted_set = set(wanted)
    if not wanted_set or not region:
        return 0
    if region in wanted_set:
        return SAME_REGION_WEIGHT
    if region == NATIONWIDE or NATIONWIDE in wanted_set:
        return NATIONWIDE_REGION_WEIGHT
    if any(region in NEIGHBOURS.get(w, ()) for w in wanted_set):
        return NEIGHBOUR_REGION_WEIGHT
    return 0


def score(query: BuddyQuery, candidate: Candidate) -> int:
    """The score of one eligible candidate (the slow, readable form of the pool's)."""
    themes = query.themes or query.requester_themes
    days = query.days or query.requester_days
    regions = query.regions or ({query.requester_region} if query.requester_region else set())
    total = mentoring_score(query.requester_experience, candidate.experience)
    total += THEME_WEIGHT * len(themes & candidate.themes)
    total += DAY_WEIGHT * len(days & candidate.days)
    total += region_score(regions, candidate.region)
    if (
        query.cross_profession
        and query.requester_profession
        and candidate.profession != query.requester_profession
    ):
        total += CROSS_PROFESSION_WEIGHT
    return total


class _Bits:
    """Names to bit positions, so sets become integers."""

    def __init__(self) -> None:
        self._bits: dict[str, int] = {}

    def mask(self, names: Iterable[str], *, grow: bool = True) -> int:
        value = 0
        for name in names:
            bit = self._bits.get(name)
            if bit is None:
                if not grow:
                    continue
                bit = self._bits[name] = len(self._bits)
            value |= 1 << bit
        return value


@dataclass
class CandidatePool:
    """Candidates prepared for fast ranking; build once, rank many queries."""

    candidates: list[Candidate] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._themes = _Bits()
        self._days = _Bits()
        self._rows: list[tuple[Candidate, int, int]] = [
            (c, self._themes.mask(c.themes), self._days.mask(c.days)) for c in self.candidates
        ]

    def __len__(self) -> int:
        return len(self._rows)

    def rank(self, query: BuddyQuery, limit: int = 10) -> list[Match]:
        """The best ``limit`` eligible candidates, best first."""
        if limit < 1:
            return []
        theme_mask = self._themes.mask(query.themes or query.requester_themes, grow=False)
        day_mask = self._days.mask(query.days or query.requester_days, grow=False)
        regions = query.regions or (
            frozenset({query.requester_region}) if query.requester_region else frozenset()
        )
        region_scores = _region_table(regions)
        mentoring = {
            level: mentoring_score(query.requester_experience, level) for level in (*EXPERIENCE_LEVEL, None)
        }
        cross = query.cross_profession and bool(query.requester_profession)
        own_profession = query.requester_profession
        requester, excluded, today = query.requester, query.excluded, query.today
        professions, experience = query.professions, query.experience
        scored: list[tuple[int, int, str]] = []
        append = scored.append
        for candidate, themes, days in self._rows:
            user_id = candidate.user_id
            if user_id == requester or user_id in excluded:
                continue
            if candidate.active_pairs >= candidate.max_pairs:
                continue
            paused = candidate.paused_until
            if paused is not None and paused > today:
                continue
            if professions and candidate.profession not in professions:
                continue
            if experience and candidate.experience not in experience:
                continue
            total = mentoring.get(candidate.experience, 0)
            if themes & theme_mask:
                total += THEME_WEIGHT * (themes & theme_mask).bit_count()
            if days & day_mask:
                total += DAY_WEIGHT * (days & day_mask).bit_count()
            if candidate.region:
                total += region_scores.get(candidate.region, 0)
            if cross and candidate.profession != own_profession:
                total += CROSS_PROFESSION_WEIGHT
            append((-total, candidate.active_pairs, user_id))
        best = heapq.nsmallest(limit, scored)
        return [Match(user_id, -negative) for negative, _, user_id in best]


def _region_table(wanted: frozenset[str]) -> dict[str, int]:
    """The region score of every region for this query (few regions: precomputed)."""
    if not wanted:
        return {}
    regions = set(NEIGHBOURS) | {NATIONWIDE} | set(wanted)
    return {region: region_score(wanted, region) for region in regions}


def rank(query: BuddyQuery, candidates: Sequence[Candidate], limit: int = 10) -> list[Match]:
    """Rank once without keeping a pool."""
    return CandidatePool(list(candidates)).rank(query, limit)


__all__ = [
    "NEIGHBOURS",
    "BuddyQuery",
    "Candidate",
    "CandidatePool",
    "Match",
    "is_eligible",
    "mentoring_score",
    "rank",
    "region_score",
    "score",
]
