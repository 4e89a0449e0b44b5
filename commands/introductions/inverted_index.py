"""The inverted index the member directory is built from: value -> the user ids with it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet


class MultiIndex:
    """value -> user ids, for one field; empty sets are dropped."""

    def __init__(self) -> None:
        self._ids: dict[str, set[str]] = {}

    def add(self, values: Iterable[str], user_id: str) -> None:
        # get-then-add rather than setdefault(value, set()): no throwaway set per value,
        # which matters when loading a large directory.
        index = self._ids
        for value in values:
            ids = index.get(value)
            if ids is None:
                index[value] = {user_id}
            else:
                ids.add(user_id)

    def discard(self, values: Iterable[str], user_id: str) -> None:
        for value in values:
            ids = self._ids.get(value)
            if ids is not None:
                ids.discard(user_id)
                if not ids:
                    del self._ids[value]

    def get(self, value: str) -> AbstractSet[str]:
        """The ids with ``value``: the index's own set, hence read-only."""
        return self._ids.get(value, EMPTY)

    def any_of(self, values: Iterable[str]) -> AbstractSet[str]:
        """The ids with at least one of ``values``; may be the index's own set."""
        sets = [self._ids[v] for v in values if v in self._ids]
        if not sets:
            return EMPTY
        if len(sets) == 1:
            return sets[0]
        return set().union(*sets)

    def sizes(self) -> dict[str, int]:
        return {value: len(ids) for value, ids in self._ids.items()}

    def tokens(self) -> Iterator[tuple[str, AbstractSet[str]]]:
        return iter(self._ids.items())

    def __len__(self) -> int:
        return len(self._ids)

    def clear(self) -> None:
        self._ids.clear()


EMPTY: frozenset[str] = frozenset()
