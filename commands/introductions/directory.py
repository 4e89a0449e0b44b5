"""The in-memory directory behind ``!zoek`` / ``!find``: listed profiles, filtered and ranked.

The database is the source of truth. The feature loads every listed record at start
(``load``) and calls ``replace`` / ``remove`` on each write; one bot process owns the
index, so there is no locking. Everything here is pure and synchronous.

Matching. Every non-empty field of a ``DirectoryQuery`` must match (AND across fields);
within a field any value matches (OR): profession, experience; a shared day among the
member's work and meeting days; a shared theme; a shared goal; one of the professions
the member would like to meet (``meet_professions``). A member whose region is
asked for matches, and so does a nationwide (``landelijk``) member, for any region,
because they work everywhere. Every free-text word must occur in the record's
searchable text (``describe``), ignoring case and (Latin) accents; a word containing
spaces is matched as a phrase.

Ranking, best first; each step only breaks ties left by the one before:

1. region: a member in an asked-for region before a nationwide one who matched only
   by being nationwide (without a region filter everyone is equal here);
2. relevance, the sum of: 2 per asked-for day the member meets on (1 if they only work
   on it), 2 per shared theme, 2 per shared goal, 1 per free-text word found in the
   member's own texts (about, weighing) rather than only in their labels;
3. completeness: how many of the optional profile fields are filled in;
4. most recently updated first (never-updated last);
5. user id, so the order is total and the same on every run.

Speed. Filters are unions and intersections of inverted indexes (value -> user ids),
so they cost what the matching sets cost, not the directory size. Free-text words go
through a token index: a word without spaces occurs in a text exactly when it occurs
in one of its whitespace-separated tokens, so scanning the distinct tokens replaces
reading every record when that is cheaper; the own texts have a token index of their
own for ranking step 2. Ranking splits the matches into tiers of equal (region,
relevance) with set operations, skips whole tiers that lie before the asked-for page,
and takes only the needed members of a tier, by walking the precomputed order of
steps 3-5 or with ``heapq.nsmallest``; the full match set is never sorted unless a
page needs it all. The price is memory: the two token indexes hold one entry per
distinct word per member, most of the index's roughly 5 KB per member
(``bench/directory.py`` prints timings and memory).
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from itertools import islice

from commands.introductions.directory_query import (
    DirectoryCounts,
    DirectoryQuery,
    SearchPage,
    fold,
    query_words,
)
from commands.introductions.inverted_index import MultiIndex
from commands.introductions.records import ProfileRecord
from commands.introductions.vocabulary import NATIONWIDE

# Relevance weights (see the module docstring). Meeting days weigh double because a
# member who meets on a day is reachable then, one who only works then may not be.
MEET_DAY_WEIGHT = 2
WORK_DAY_WEIGHT = 1
THEME_WEIGHT = 2
GOAL_WEIGHT = 2
OWN_WORD_WEIGHT = 1

# Reading one member's text costs about as much as checking this many distinct tokens
# against a word (a few hundred characters against a dozen): above that, the token
# index answers a free-text word faster than reading every candidate's text.
SCAN_COST = 8

# (-completeness, -updated timestamp, user_id): smaller is better.
StaticKey = tuple[int, float, str]


def completeness(record: ProfileRecord) -> int:
    """How many optional profile fields are filled in (0-11)."""
    filled = (
        record.experience,
        record.years is not None,
        record.region,
        record.setting,
        record.work_days,
        record.meet_days,
        record.goals,
        record.themes,
        record.meet_professions,
        record.about and record.about.strip(),
        record.weighing and record.weighing.strip(),
    )
    return sum(1 for value in filled if value)


def static_key(record: ProfileRecord) -> StaticKey:
    updated = record.updated_at.timestamp() if record.updated_at is not None else -math.inf
    return (-completeness(record), -updated, record.user_id)


class DirectoryIndex:
    """The listed profiles, searchable by field and free text; see the module docstring."""

    def __init__(self, describe: Callable[[ProfileRecord], str]) -> None:
        self._describe = describe
        # Per user id; plain dicts rather than one object per member, so that scanning
        # texts is a dict lookup and a 100,000-member directory stays small.
        self._records: dict[str, ProfileRecord] = {}
        self._texts: dict[str, str] = {}  # folded describe(record)
        self._own_texts: dict[str, str] = {}  # folded about + weighing, when not empty
        self._static_keys: dict[str, StaticKey] = {}
        self._by_profession = MultiIndex()
        self._by_region = MultiIndex()
        self._by_experience = MultiIndex()
        self._by_day = MultiIndex()  # work ∪ meeting days
        self._by_meet_day = MultiIndex()
        self._by_theme = MultiIndex()
        self._by_goal = MultiIndex()
        self._by_meet_profession = MultiIndex()
        self._by_token = MultiIndex()  # whitespace-separated tokens of the folded text
        self._by_own_token = MultiIndex()  # the same for the folded own texts
        # Every static key, sorted: the order of ranking steps 3-5, kept up to date on
        # each write so an unfiltered page is a slice and a broad filter a short walk.
        self._order: list[StaticKey] = []

    # -- writing -------------------------------------------------------------------

    def replace(self, record: ProfileRecord) -> None:
        """Add or update ``record``; an unlisted record leaves the directory."""
        self.remove(record.user_id)
        if not record.listed:
            return
        key = self._index(record)
        self._order.insert(bisect_left(self._order, key), key)

    def remove(self, user_id: str) -> None:
        key = self._unindex(user_id)
        if key is not None:
            # Keys are unique (they end with the user id): bisect finds this very key.
            del self._order[bisect_left(self._order, key)]

    def load(self, records: Iterable[ProfileRecord]) -> None:
        """Replace the whole contents by ``records`` (unlisted ones are skipped)."""
        for mapping in (self._records, self._texts, self._own_texts, self._static_keys):
            mapping.clear()
        for index in self._indexes():
            index.clear()
        for record in records:
            self._unindex(record.user_id)
            if record.listed:
                self._index(record)
        # One sort instead of an insertion per record.
        self._order = sorted(self._static_keys.values())

    def _indexes(self) -> tuple[MultiIndex, ...]:
        return (
            self._by_profession,
            self._by_region,
            self._by_experience,
            self._by_day,
            self._by_meet_day,
            self._by_theme,
            self._by_goal,
            self._by_meet_profession,
            self._by_token,
            self._by_own_token,
        )

    def _index(self, record: ProfileRecord) -> StaticKey:
        user_id = record.user_id
        text = fold(self._describe(record))
        own_text = fold(" ".join(t for t in (record.about, record.weighing) if t))
        key = static_key(record)
        self._records[user_id] = record
        self._texts[user_id] = text
        if own_text:
            self._own_texts[user_id] = own_text
        self._static_keys[user_id] = key
        self._by_profession.add((record.profession,), user_id)
        self._by_region.add(_optional(record.region), user_id)
        self._by_experience.add(_optional(record.experience), user_id)
        self._by_day.add({*record.work_days, *record.meet_days}, user_id)
        self._by_meet_day.add(set(record.meet_days), user_id)
        self._by_theme.add(set(record.themes), user_id)
        self._by_goal.add(set(record.goals), user_id)
        self._by_meet_profession.add(set(record.meet_professions), user_id)
        self._by_token.add(set(text.split()), user_id)
        self._by_own_token.add(set(own_text.split()), user_id)
        return key

    def _unindex(self, user_id: str) -> StaticKey | None:
        """Forget ``user_id`` everywhere but in the order; its old static key, if any."""
        record = self._records.pop(user_id, None)
        if record is None:
            return None
        text = self._texts.pop(user_id)
        own_text = self._own_texts.pop(user_id, "")
        self._by_profession.discard((record.profession,), user_id)
        self._by_region.discard(_optional(record.region), user_id)
        self._by_experience.discard(_optional(record.experience), user_id)
        self._by_day.discard({*record.work_days, *record.meet_days}, user_id)
        self._by_meet_day.discard(set(record.meet_days), user_id)
        self._by_theme.discard(set(record.themes), user_id)
        self._by_goal.discard(set(record.goals), user_id)
        self._by_meet_profession.discard(set(record.meet_professions), user_id)
        # The tokens are not kept per member: they are cheap to recompute from the text.
        self._by_token.discard(set(text.split()), user_id)
        self._by_own_token.discard(set(own_text.split()), user_id)
        return self._static_keys.pop(user_id)

    # -- reading -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._records)

    def get(self, user_id: str) -> ProfileRecord | None:
        return self._records.get(user_id)

    def counts(self) -> DirectoryCounts:
        return DirectoryCounts(
            by_profession=dict(sorted(self._by_profession.sizes().items())),
            by_region=dict(sorted(self._by_region.sizes().items())),
            total=len(self._records),
        )

    def search(
        self, query: DirectoryQuery, page: int = 1, page_size: int = 10, *, excluding: str | None = None
    ) -> SearchPage:
        """One page of the members matching ``query``; ``excluding`` (the asker) is left
        out: nobody searches for themselves."""
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        words = query_words(query.words)
        matches = self._matching(query, words)
        if excluding is not None and excluding not in self._records:
            excluding = None
        if matches is not None and excluding is not None:
            matches = matches - {excluding} if excluding in matches else matches
            excluding = None
        total = len(self._records) - (excluding is not None) if matches is None else len(matches)
        pages = max(1, math.ceil(total / page_size))
        page = min(max(page, 1), pages)
        start = (page - 1) * page_size
        if total == 0:
            return SearchPage(results=[], total=0, page=page, pages=pages)
        if matches is None:
            # Nothing asked: everyone, in the static order (past the asker's own key).
            if excluding is not None and bisect_left(self._order, self._static_keys[excluding]) < start:
                start += 1
            keys = [k for k in self._order[start : start + page_size + 1] if k[2] != excluding]
            results = [self._records[key[2]] for key in keys[:page_size]]
            return SearchPage(results=results, total=total, page=page, pages=pages)
        user_ids = self._ranked_slice(query, words, matches, start, page_size)
        results = [self._records[user_id] for user_id in user_ids]
        return SearchPage(results=results, total=total, page=page, pages=pages)

    def count(self, query: DirectoryQuery, *, excluding: str | None = None) -> int:
        """How many listed members match ``query``, not counting ``excluding`` (the
        asker: "without the filter I find 1" must not mean the asker themselves)."""
        matches = self._matching(query, query_words(query.words))
        found: AbstractSet[str] = self._records.keys() if matches is None else matches
        return len(found) - (1 if excluding is not None and excluding in found else 0)

    def _matching(self, query: DirectoryQuery, words: list[str]) -> AbstractSet[str] | None:
        """The user ids matching ``query`` (read only), or None for everyone."""
        field_sets: list[AbstractSet[str]] = []
        if query.professions:
            field_sets.append(self._by_profession.any_of(query.professions))
        if query.experience:
            field_sets.append(self._by_experience.any_of(query.experience))
        if query.regions:
            field_sets.append(self._by_region.any_of(query.regions | {NATIONWIDE}))
        if query.days:
            field_sets.append(self._by_day.any_of(query.days))
        if query.themes:
            field_sets.append(self._by_theme.any_of(query.themes))
        if query.goals:
            field_sets.append(self._by_goal.any_of(query.goals))
        if query.meet_professions:
            field_sets.append(self._by_meet_profession.any_of(query.meet_professions))
        matches: AbstractSet[str] | None = None
        if field_sets:
            # Python intersects by iterating the smaller operand: start smallest.
            field_sets.sort(key=len)
            matches = field_sets[0]
            for other in field_sets[1:]:
                if not matches:
                    break
                matches = matches & other
        for word in words:
            if matches is not None and not matches:
                break
            matches = self._containing(word, matches, self._texts, self._by_token)
        return matches

    def _containing(
        self,
        word: str,
        candidates: AbstractSet[str] | None,
        texts: dict[str, str],
        tokens: MultiIndex,
    ) -> AbstractSet[str]:
        """The candidates (None: everyone) whose text in ``texts`` contains the folded
        ``word``, through ``tokens`` (the token index of ``texts``) when that is cheaper."""
        pool = self._records.keys() if candidates is None else candidates
        if " " in word:
            # Each part of a phrase lies within one token: narrow cheaply, then read.
            narrowed: AbstractSet[str] | None = candidates
            for part in word.split(" "):
                narrowed = self._containing(part, narrowed, texts, tokens)
            pool = narrowed if narrowed is not None else pool
        if " " in word or len(pool) * SCAN_COST <= len(tokens):
            return {user_id for user_id in pool if word in texts.get(user_id, "")}
        hits = [ids for token, ids in tokens.tokens() if word in token]
        if not hits:
            return set()
        found = set().union(*hits) if len(hits) > 1 else hits[0]
        return found if candidates is None else candidates & found

    def _ranked_slice(
        self, query: DirectoryQuery, words: list[str], matches: AbstractSet[str], start: int, count: int
    ) -> list[str]:
        """User ids ``start`` to ``start + count`` of ``matches`` in ranking order."""
        result: list[str] = []
        skip = start
        for tier in self._tiers(query, words, matches):
            if skip >= len(tier):
                skip -= len(tier)
                continue
            needed = skip + count - len(result)
            best = self._best_static(tier, needed)
            result.extend(best[skip:])
            skip = 0
            if len(result) >= count:
                break
        return result[:count]

    def _tiers(
        self, query: DirectoryQuery, words: list[str], matches: AbstractSet[str]
    ) -> Iterator[AbstractSet[str]]:
        """``matches`` split by (region rank, relevance), best tier first."""
        # (weight, ids) pairs; a member's relevance is the sum of the weights of the
        # pairs whose ids contain them. A meeting day gets both day pairs (1 + 1).
        pairs: list[tuple[int, AbstractSet[str]]] = []
        for day in sorted(query.days):
            pairs.append((WORK_DAY_WEIGHT, self._by_day.get(day)))
            pairs.append((MEET_DAY_WEIGHT - WORK_DAY_WEIGHT, self._by_meet_day.get(day)))
        for theme in sorted(query.themes):
            pairs.append((THEME_WEIGHT, self._by_theme.get(theme)))
        for goal in sorted(query.goals):
            pairs.append((GOAL_WEIGHT, self._by_goal.get(goal)))
        for word in words:
            own = self._containing(word, matches, self._own_texts, self._by_own_token)
            pairs.append((OWN_WORD_WEIGHT, own))
        levels: dict[int, AbstractSet[str]] = {0: matches}
        for weight, ids in pairs:
            if not ids:
                continue
            shifted: dict[int, AbstractSet[str]] = {}
            for relevance, members in levels.items():
                hit = members & ids
                _merge(shifted, relevance + weight, hit)
                _merge(shifted, relevance, members - hit if hit else members)
            levels = shifted
        ordered = [levels[relevance] for relevance in sorted(levels, reverse=True)]
        if not query.regions:
            yield from ordered
            return
        exact = self._by_region.any_of(query.regions)
        for members in ordered:
            yield members & exact
        for members in ordered:
            yield members - exact

    def _best_static(self, user_ids: AbstractSet[str], count: int) -> list[str]:
        """The first ``count`` of ``user_ids`` in the static order (steps 3-5)."""
        if count >= len(user_ids):
            return sorted(user_ids, key=self._static_keys.__getitem__)
        # Walking the sorted order visits about count * n / len(user_ids) keys; a heap
        # over the set visits len(user_ids) members at roughly twice the cost each.
        if count * len(self._order) <= 2 * len(user_ids) * len(user_ids):
            walk = (key[2] for key in self._order if key[2] in user_ids)
            return list(islice(walk, count))
        return heapq.nsmallest(count, user_ids, key=self._static_keys.__getitem__)


def _optional(value: str | None) -> tuple[str, ...]:
    return (value,) if value else ()


def _merge(levels: dict[int, AbstractSet[str]], relevance: int, members: AbstractSet[str]) -> None:
    # Never mutate a set in place: it may be one of the index's own sets.
    if not members:
        return
    existing = levels.get(relevance)
    levels[relevance] = members if existing is None else existing | members


__all__ = [
    "DirectoryCounts",
    "DirectoryIndex",
    "DirectoryQuery",
    "SearchPage",
    "completeness",
    "fold",
    "static_key",
]
