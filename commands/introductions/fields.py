"""Profile fields by the names members type (``beroep=``, ``profession=``) and their parsers.

Used by the one-line introduction (``!intro beroep=… regio=…``), by ``!profiel zet``
and by the directory filters, so a field is spelled and validated the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.config import ThemeConfig
from bot.content import Professions
from bot.errors import ConversationError, UserError
from bot.i18n import LANGUAGES, Catalogue, Joiner, Localised, normalise_word
from bot.textnorm import closest, is_number, split_list
from commands.introductions.vocabulary import (
    ABOUT_LIMIT,
    DAYS,
    EXPERIENCE,
    GOALS,
    MAX_YEARS,
    REGIONS,
    SETTINGS,
    WEIGHING_LIMIT,
    Vocabulary,
)

# What a member may type for "every profession" or "nobody" when choosing whom to meet
# (catalogue word lists; ``geen`` is how ``!profiel zet ontmoeten`` clears the choice).
ALL_PROFESSIONS_WORDS = "introductions.words.all_professions"
NO_PROFESSIONS_WORDS = "introductions.words.no_professions"


DID_YOU_MEAN = "introductions.error.did_you_mean"


def did_you_mean(value: str, suggestion: Localised) -> UserError:
    """A value that is nearly a known one: name the one the member probably meant."""
    return UserError(DID_YOU_MEAN, value=value[:60], suggestion=suggestion)


def parse_years(text: str) -> int:
    """Years in the field: ``12``, ``12 jaar``; a conversation error so a flow asks again."""
    cleaned = text.strip().lower().removesuffix("jaar").removesuffix("years").removesuffix("year").strip()
    if not is_number(cleaned) or int(cleaned) > MAX_YEARS:
        raise ConversationError("introductions.error.years", value=text[:20], limit=MAX_YEARS)
    return int(cleaned)


@dataclass(frozen=True)
class FieldParser:
    """What a field's value is checked against: the catalogue, professions and themes."""

    catalogue: Catalogue
    professions: Professions
    themes: tuple[ThemeConfig, ...]

    def _find_profession(self, text: str) -> str | None:
        found = self.professions.find(text) or self.professions.find(text.replace("-", " "))
        return found.key if found else None

    def _unknown_profession(self, key: str, value: str, joiner: Joiner) -> UserError:
        return UserError(
            key,
            value=value[:60],
            professions=self.professions.named(self.catalogue, joiner),
            abbreviations=self.professions.abbreviations_named(self.catalogue),
        )

    def _misspelt_profession(self, text: str) -> UserError | None:
        """"Did you mean …?" for a profession typed with a slip ("bedrijfsart")."""
        nearest = self.professions.nearest(text)
        if nearest is None:
            return None
        return did_you_mean(text, Localised({lang: nearest.in_sentence(lang) for lang in LANGUAGES}))

    def _misspelt(self, vocabulary: Vocabulary, text: str) -> UserError | None:
        key = vocabulary.nearest(self.catalogue, text)
        if key is None:
            return None
        labels = {lang: self.catalogue.plain(lang, vocabulary.label_key(key)).lower() for lang in LANGUAGES}
        return did_you_mean(text, Localised(labels))

    def profession(self, text: str) -> str:
        found = self._find_profession(text)
        if found is None:
            raise self._misspelt_profession(text) or self._unknown_profession(
                "introductions.error.profession", text, "or"
            )
        return found

    def professions_list(self, text: str) -> list[str]:
        keys, unknown = [], []
        for part in split_list(text, lambda part: self._find_profession(part) is not None):
            found = self._find_profession(part)
            if found is None:
                unknown.append(part)
            elif found not in keys:
                keys.append(found)
        # Nothing known at all: the whole text may be one name with a slip in it
        # ("insurance physican" is not two professions).
        for part in [text, *unknown] if unknown and not keys else unknown:
            misspelt = self._misspelt_profession(part)
            if misspelt is not None:
                raise misspelt
        if unknown:
            raise self._unknown_profession("introductions.error.profession", ", ".join(unknown), "or")
        return keys

    def meet_professions(self, text: str) -> list[str]:
        """The professions a member would like to meet: a list like ``professions_list``,
        ``alle`` for every profession, ``geen`` for no choice (an empty list)."""
        cleaned = normalise_word(text)
        if cleaned in self.catalogue.word_list(NO_PROFESSIONS_WORDS):
            return []
        if cleaned in self.catalogue.word_list(ALL_PROFESSIONS_WORDS):
            return [p.key for p in self.professions.items]
        try:
            keys = self.professions_list(text)
        except UserError as error:
            if error.key == DID_YOU_MEAN:
                raise
            # Its own message: it names the professions and how to choose all or none.
            raise self._unknown_profession(
                "introductions.error.meet_professions", str(error.params["value"]), "and"
            ) from None
        if not keys:
            raise self._unknown_profession("introductions.error.meet_professions", text, "and")
        return keys

    def one(self, vocabulary: Vocabulary, text: str) -> str:
        key = vocabulary.find(self.catalogue, text)
        if key is None:
            unknown = UserError(f"introductions.error.{vocabulary.name}", value=text[:60])
            raise self._misspelt(vocabulary, text) or unknown
        return key

    def many(self, vocabulary: Vocabulary, text: str) -> list[str]:
        keys, unknown = vocabulary.find_many(self.catalogue, text)
        for part in [text, *unknown] if unknown and not keys else unknown:
            misspelt = self._misspelt(vocabulary, part)
            if misspelt is not None:
                raise misspelt
        if unknown or not keys:
            raise UserError(f"introductions.error.{vocabulary.name}", value=", ".join(unknown or [text])[:60])
        return keys

    def theme(self, text: str) -> str:
        cleaned = text.strip().lower()
        for theme in self.themes:
            names = {theme.key, *(label.lower() for label in theme.name.values())}
            if cleaned in names:
                return theme.key
        if is_number(cleaned) and 1 <= int(cleaned) <= len(self.themes):
            return self.themes[int(cleaned) - 1].key
        by_name = {name.lower(): theme for theme in self.themes for name in (theme.key, *theme.name.values())}
        nearest = closest(cleaned, by_name)
        if nearest is not None:
            theme = by_name[nearest]
            raise did_you_mean(text, Localised({lang: theme.label(lang) for lang in LANGUAGES}))
        raise UserError("introductions.error.theme", value=text[:60])

    def themes_list(self, text: str) -> list[str]:
        keys: list[str] = []
        for part in [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]:
            key = self.theme(part)
            if key not in keys:
                keys.append(key)
        if not keys:
            raise UserError("introductions.error.theme", value=text[:60])
        return keys

    def years(self, text: str) -> int:
        return parse_years(text)

    def yes_no(self, text: str) -> bool:
        answer = self.catalogue.switch(text)
        if answer is None:
            raise UserError("introductions.error.yes_no", value=text[:20])
        return answer

    @staticmethod
    def limited(limit: int) -> Callable[[str], str]:
        def parse(text: str) -> str:
            cleaned = text.strip()
            if len(cleaned) > limit:
                # The length as typed: a member who counted the closing space too reads
                # "785" for their 786 as a miscount (as the conversation does).
                raise UserError("introductions.error.too_long", limit=limit, length=len(text))
            return cleaned

        return parse


@dataclass(frozen=True)
class ProfileField:
    """One field: the record attribute, the names members may type, how to parse it."""

    attribute: str
    names: tuple[str, ...]
    parse: Callable[[FieldParser, str], Any]

    @property
    def label_key(self) -> str:
        return f"introductions.field.{self.attribute}"


FIELDS: tuple[ProfileField, ...] = (
    ProfileField("profession", ("beroep", "profession", "functie", "vak"), FieldParser.profession),
    ProfileField("experience", ("ervaring", "experience", "niveau"), lambda p, t: p.one(EXPERIENCE, t)),
    ProfileField("years", ("jaren", "years", "jaar", "werkjaren"), FieldParser.years),
    ProfileField("region", ("regio", "region", "provincie", "province"), lambda p, t: p.one(REGIONS, t)),
    ProfileField(
        "setting",
        ("werkomgeving", "setting", "werkplek", "organisatie", "werkveld"),
        lambda p, t: p.one(SETTINGS, t),
    ),
    ProfileField(
        "work_days", ("werkdagen", "workdays", "work_days", "werkdag"), lambda p, t: p.many(DAYS, t)
    ),
    ProfileField(
        "meet_days",
        ("afspreken", "afspraakdagen", "voorkeursdagen", "meetdays", "meet_days", "meet"),
        lambda p, t: p.many(DAYS, t),
    ),
    ProfileField(
        "goals",
        ("zoekt", "zoek", "lookingfor", "looking_for", "goals", "doelen"),
        lambda p, t: p.many(GOALS, t),
    ),
    ProfileField("themes", ("themas", "thema's", "thema", "themes", "theme"), FieldParser.themes_list),
    ProfileField(
        "meet_professions",
        (
            "ontmoeten",
            "wil-ontmoeten",
            "wilontmoeten",
            "wil_ontmoeten",
            "ontmoet",
            "tomeet",
            "to-meet",
            "wants-to-meet",
            "meet-professions",
            "meetprofessions",
            "meet_professions",
        ),
        FieldParser.meet_professions,
    ),
    ProfileField(
        "about",
        ("overmij", "over_mij", "over", "about", "bio"),
        lambda p, t: FieldParser.limited(ABOUT_LIMIT)(t),
    ),
    ProfileField(
        "weighing",
        ("afwegen", "afweging", "weighing", "hoeikafweeg", "werkwijze"),
        lambda p, t: FieldParser.limited(WEIGHING_LIMIT)(t),
    ),
    ProfileField(
        "listed", ("vindbaar", "listed", "zichtbaar", "ledenlijst", "directory"), FieldParser.yes_no
    ),
    ProfileField("spotlight", ("spotlight", "uitgelicht", "inkijk"), FieldParser.yes_no),
)
FIELDS_BY_NAME: dict[str, ProfileField] = {name: f for f in FIELDS for name in f.names}


def field_named(name: str) -> ProfileField | None:
    return FIELDS_BY_NAME.get(name.strip().lower().rstrip(":="))


def parse_fields(parser: FieldParser, options: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Profile values from ``key=value`` options, and the option names nobody knows.

    Raises the first value error (the member fixes one thing at a time, with an example).
    """
    values: dict[str, Any] = {}
    unknown: list[str] = []
    for name, text in options.items():
        found = field_named(name)
        if found is None:
            unknown.append(name)
            continue
        values[found.attribute] = found.parse(parser, text)
    return values, unknown
