"""Shared content files: the professions every feature refers to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.errors import ConfigError
from bot.i18n import Catalogue, Joiner, Localised
from bot.textnorm import closest, is_number


@dataclass(frozen=True)
class Profession:
    key: str
    labels: dict[str, str]
    abbreviations: tuple[str, ...]
    badge: str = "•"

    def label(self, language: str) -> str:
        return self.labels.get(language) or self.labels.get("nl") or self.key

    def in_sentence(self, language: str) -> str:
        """The label inside a sentence: "Bedrijfsarts" -> "bedrijfsarts", while
        "HR-professional" keeps its capitals."""
        label = self.label(language)
        return label[:1].lower() + label[1:] if label[1:2].islower() else label


class Professions:
    """The profession list, with lookup by number, key, label or abbreviation."""

    def __init__(self, items: list[Profession]) -> None:
        self.items = items
        self._lookup: dict[str, Profession] = {}
        for prof in items:
            for name in (prof.key, *prof.labels.values(), *prof.abbreviations):
                self._lookup.setdefault(name.strip().lower(), prof)

    @classmethod
    def load(cls, path: Path) -> Professions:
        problems: list[str] = []
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError([f"{path}: cannot be read as YAML ({exc})"]) from exc
        raw = data.get("professions") if isinstance(data, dict) else None
        if not isinstance(raw, list) or not raw:
            raise ConfigError([f"{path}: professions: must be a non-empty list"])
        items: list[Profession] = []
        seen: set[str] = set()
        for i, entry in enumerate(raw):
            where = f"{path}: professions[{i}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
                problems.append(f"{where}: needs a key")
                continue
            labels = entry.get("label")
            if not isinstance(labels, dict) or "nl" not in labels or "en" not in labels:
                problems.append(f"{where}.label: needs nl and en")
                continue
            if entry["key"] in seen:
                problems.append(f"{where}.key: {entry['key']!r} is used twice")
            seen.add(entry["key"])
            abbreviations = tuple(str(a) for a in entry.get("abbreviations") or [])
            badge = str(entry.get("badge") or "•")
            names = {k: str(v) for k, v in labels.items()}
            items.append(Profession(entry["key"], names, abbreviations, badge))
        if problems:
            raise ConfigError(problems)
        return cls(items)

    def named(self, catalogue: Catalogue, joiner: Joiner = "or") -> Localised:
        """Every profession in a sentence ("a, b of c"), per language, for an error that
        lists them: rendered from this list, so it cannot drift from the content file."""
        return Localised(
            {
                language: catalogue.series(language, [p.in_sentence(language) for p in self.items], joiner)
                for language in catalogue.languages()
            }
        )

    def abbreviations_named(self, catalogue: Catalogue, count: int = 3) -> Localised:
        """A few of the abbreviations members may type ("BA, VA of AD")."""
        short = [a for p in self.items for a in p.abbreviations[:1] if a.isupper()][:count]
        return Localised({language: catalogue.series(language, short) for language in catalogue.languages()})

    def get(self, key: str) -> Profession | None:
        return next((p for p in self.items if p.key == key), None)

    def nearest(self, text: str) -> Profession | None:
        """The profession a misspelt name most likely means ("bedrijfsart"), or None."""
        name = closest(text, self._lookup)
        return self._lookup[name] if name is not None else None

    def find(self, text: str) -> Profession | None:
        """A profession by its number in the list (1-based), key, label or abbreviation."""
        cleaned = text.strip().lower()
        if is_number(cleaned):
            index = int(cleaned) - 1
            return self.items[index] if 0 <= index < len(self.items) else None
        return self._lookup.get(cleaned)
