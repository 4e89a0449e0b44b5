"""The fixed answer lists of a profile: experience, regions, work settings, days, goals.

Keys are stored in the database and never change; what members see comes from the
catalogues (``introductions.<list>.<key>``). Members may type a key, an alias, the
label in either language, or the option's number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.conversations import Choice
from bot.i18n import LANGUAGES, Catalogue, core_catalogue
from bot.textnorm import closest, is_number, split_list

ABOUT_LIMIT = 500
WEIGHING_LIMIT = 1000
MAX_YEARS = 60


@dataclass(frozen=True)
class Term:
    key: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Vocabulary:
    """One answer list: its catalogue prefix and its terms, in display order."""

    name: str
    terms: tuple[Term, ...]

    def keys(self) -> tuple[str, ...]:
        return tuple(t.key for t in self.terms)

    def label_key(self, key: str) -> str:
        return f"introductions.{self.name}.{key}"

    def label(self, catalogue: Catalogue, language: str, key: str) -> str:
        return catalogue.plain(language, self.label_key(key)) if key in self.keys() else key

    def choices(self) -> tuple[Choice, ...]:
        return tuple(Choice(t.key, label_key=self.label_key(t.key), aliases=t.aliases) for t in self.terms)

    def find(self, catalogue: Catalogue, text: str) -> str | None:
        """The key a member meant by ``text`` (number, key, alias or label), or None."""
        cleaned = " ".join(text.strip().lower().rstrip(".").split())
        if not cleaned:
            return None
        if is_number(cleaned):
            index = int(cleaned) - 1
            return self.terms[index].key if 0 <= index < len(self.terms) else None
        for term in self.terms:
            names = {term.key, *term.aliases}
            names.update(catalogue.plain(lang, self.label_key(term.key)).lower() for lang in LANGUAGES)
            if names & {cleaned, cleaned.replace(" ", "-"), cleaned.replace("-", " ")}:
                return term.key
        return None

    def nearest(self, catalogue: Catalogue, text: str) -> str | None:
        """The key a misspelt answer most likely means (``utrechtt`` -> ``utrecht``)."""
        by_name: dict[str, str] = {}
        for term in self.terms:
            for name in (term.key, *term.aliases):
                by_name.setdefault(name.lower(), term.key)
            for lang in LANGUAGES:
                by_name.setdefault(catalogue.plain(lang, self.label_key(term.key)).lower(), term.key)
        nearest = closest(text, by_name)
        return by_name[nearest] if nearest is not None else None

    def find_many(self, catalogue: Catalogue, text: str) -> tuple[list[str], list[str]]:
        """Keys for a comma-separated answer, and the parts that matched nothing."""
        found: list[str] = []
        unknown: list[str] = []
        for part in split_list(text, lambda part: self.find(catalogue, part) is not None):
            key = self.find(catalogue, part)
            if key is None:
                unknown.append(part)
            elif key not in found:
                found.append(key)
        return found, unknown


def _terms(*items: str | tuple[str, ...]) -> tuple[Term, ...]:
    terms = []
    for item in items:
        if isinstance(item, str):
            terms.append(Term(item))
        else:
            terms.append(Term(item[0], tuple(item[1:])))
    return tuple(terms)


EXPERIENCE = Vocabulary(
    "experience",
    _terms(
        ("frisse-blik", "frisse blik", "nieuw", "new", "fresh eye", "fresh", "starter", "junior"),
        ("ervaren", "experienced", "ervaring", "medior"),
        ("diepgaand", "expert", "deep expertise", "diepgaande kennis", "senior", "deep"),
    ),
)

REGIONS = Vocabulary(
    "region",
    _terms(
        ("groningen", "gr"),
        ("friesland", "fryslân", "fryslan", "fr"),
        ("drenthe", "dr"),
        ("overijssel", "ov"),
        ("flevoland", "fl"),
        ("gelderland", "gld", "ge"),
        ("utrecht", "ut"),
        ("noord-holland", "noord holland", "nh", "north holland"),
        ("zuid-holland", "zuid holland", "zh", "south holland"),
        ("zeeland", "ze"),
        ("noord-brabant", "noord brabant", "brabant", "nb", "north brabant"),
        ("limburg", "li"),
        ("landelijk", "nationaal", "heel nederland", "nationwide", "national", "nl"),
    ),
)
NATIONWIDE = "landelijk"

SETTINGS = Vocabulary(
    "setting",
    _terms(
        ("arbodienst", "arbo", "occupational health service"),
        ("uwv",),
        ("zelfstandig", "zzp", "zzp'er", "eigen praktijk", "self-employed", "freelance"),
        ("werkgever", "employer", "in dienst bij werkgever"),
        ("gemeente", "municipality", "sociaal domein"),
        ("re-integratiebedrijf", "reintegratiebedrijf", "re-integratie", "reintegration company"),
        ("anders", "other", "overig"),
    ),
)

DAYS = Vocabulary(
    "day",
    _terms(
        ("ma", "maandag", "mon", "monday"),
        ("di", "dinsdag", "tue", "tues", "tuesday"),
        ("wo", "woensdag", "wed", "wednesday"),
        ("do", "donderdag", "thu", "thur", "thursday"),
        ("vr", "vrijdag", "fri", "friday"),
    ),
)

GOALS = Vocabulary(
    "goal",
    _terms(
        ("netwerk", "netwerken", "network", "networking", "netwerkuitbreiding"),
        ("inspiratie", "inspiration", "kennis opdoen"),
        ("kennis-delen", "kennis delen", "delen", "sharing knowledge", "share knowledge", "sharing"),
        ("praktische-tools", "tools", "hulpmiddelen", "praktische hulpmiddelen", "practical tools"),
        ("samenwerken", "samenwerking", "andere beroepen", "working together", "collaboration"),
        ("buddy", "maatje", "1-op-1", "mentor"),
        ("wetgeving", "wet", "poortwachter", "wvp", "law", "legislation"),
    ),
)

def parse_yes_no(text: str, catalogue: Catalogue | None = None) -> bool | None:
    """A yes/no field or option (``vindbaar=ja``, ``cross=nee``, ``aan``/``uit``).

    The words are the catalogue's ``core.words`` (:meth:`Catalogue.switch`); without a
    catalogue the core's own lists."""
    return (catalogue or core_catalogue()).switch(text)


ALL_VOCABULARIES: tuple[Vocabulary, ...] = (EXPERIENCE, REGIONS, SETTINGS, DAYS, GOALS)


def vocabulary_label_keys(vocabularies: Iterable[Vocabulary] = ALL_VOCABULARIES) -> list[str]:
    """Every catalogue key the lists need (a test checks both languages have them)."""
    return [v.label_key(t.key) for v in vocabularies for t in v.terms]
