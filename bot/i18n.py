"""Message catalogues (Dutch first, English second) and locale-aware dates.

Every user-facing text lives in ``locale/<lang>.yaml`` files: the core's own in
``bot/locale`` and each feature's in ``commands/<feature>/locale``. Nested YAML keys are
flattened into dotted keys (``core.help.title``). Both languages must have the same
keys and the same placeholders; a test checks it.

A count is written into the sentence with a plural form: ``{days|# dag|# dagen}`` takes
the value of ``days``, picks the first form for one and the second for any other number,
and writes the number where ``#`` stands ("1 dag", "3 dagen"). Three forms put a form for
zero first: ``{answers|geen reacties|# reactie|# reacties}``. Babel's plural rules of the
language choose between one and other, so "1 koppel" and "2 koppels" need no code.

What members *type* is language data too: the words for yes, no, keep, skip, back and
stop live under ``core.words`` as YAML lists, read through :meth:`Catalogue.words`. A
member may answer in either language (a Dutch member typing "yes" means yes), so the
words of every language count unless one language is asked for.
"""

from __future__ import annotations

import functools
import logging
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

import yaml
from babel.core import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.dates import format_time as babel_format_time

from bot.formatting import Markup, Rendered, fragment, render

log = logging.getLogger(__name__)

LANGUAGES: tuple[str, ...] = ("nl", "en")
DEFAULT_LANGUAGE = "nl"
WORDS_PREFIX = "core.words."
CORE_LOCALE = Path(__file__).resolve().parent / "locale"

WordSet = Literal["yes", "no", "on", "off", "keep", "skip", "back", "stop"]
"""The word sets under ``core.words``. ``on``/``off`` add the switch words (aan/uit) that
make yes/no for a setting; ``keep`` keeps the current answer in a conversation."""
WORD_SETS: tuple[WordSet, ...] = get_args(WordSet)
Joiner = Literal["or", "and"]


#: ``{name|one|other}`` or ``{name|zero|one|other}``; forms hold no braces or bars.
PLURAL = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)((?:\|[^{}|]*){2,3})\}")


def plural_names(template: str) -> set[str]:
    """The parameters a template counts with a plural form."""
    return {match.group(1) for match in PLURAL.finditer(template)}


def _as_count(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def choose_plurals(template: str, language: str, params: Mapping[str, Any]) -> str:
    """Replace each plural form by the form its count asks for in ``language``.

    The chosen form keeps ``{name}`` where it had ``#``, so the number itself is filled
    in like any other value. A missing or non-numeric count takes the other form."""

    def pick(match: re.Match[str]) -> str:
        name, forms = match.group(1), match.group(2).split("|")[1:]
        count = _as_count(params.get(name))
        if len(forms) == 3:
            zero, one, other = forms
        else:
            zero, (one, other) = None, forms
        if count == 0 and zero is not None:
            form = zero
        elif count is not None and _plural_category(language, count) == "one":
            form = one
        else:
            form = other
        return form.replace("#", "{" + name + "}")

    return PLURAL.sub(pick, template)


@functools.cache
def _plural_rule(language: str) -> Any:
    return Locale.parse(language).plural_form


def _plural_category(language: str, count: int) -> str:
    return str(_plural_rule(language)(abs(count)))


class CatalogueError(Exception):
    """A catalogue file is malformed or defines a key twice."""


def _flatten(
    prefix: str, node: Any, out: dict[str, str], source: Path, lists: dict[str, tuple[str, ...]] | None = None
) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, out, source, lists)
    elif isinstance(node, str):
        if prefix in out:
            raise CatalogueError(f"{source}: key {prefix!r} is defined twice")
        out[prefix] = node
    elif isinstance(node, list) and all(isinstance(x, str) for x in node):
        # Lists of strings (paragraph lists, word lists) are kept joined by newlines as
        # text, and as items for word lookups. Only strings: an unquoted yes, no, on or
        # off would be read by YAML as a boolean, and is refused here.
        if prefix in out:
            raise CatalogueError(f"{source}: key {prefix!r} is defined twice")
        items = tuple(node)
        out[prefix] = "\n".join(items)
        if lists is not None:
            lists[prefix] = items
    else:
        raise CatalogueError(f"{source}: {prefix!r} must be text, not {type(node).__name__}")


def placeholders(template: str) -> set[str]:
    """The ``{name}`` placeholders a template uses, counted plural forms included."""
    plain = PLURAL.sub(lambda m: "{" + m.group(1) + "}" + m.group(2).replace("#", ""), template)
    return {name for _, name, _, _ in string.Formatter().parse(plain) if name}


def normalise_word(text: str) -> str:
    """A short answer as it is compared with a word list: trimmed, lower case, single
    spaces, without a closing full stop or exclamation mark ("Ja!" is "ja")."""
    return " ".join(text.strip().lower().split()).rstrip(".!") or text.strip()


@dataclass(frozen=True)
class Localised:
    """A placeholder value that differs per language (a list of professions in the
    member's language), for errors raised before the member's language is known."""

    by_language: Mapping[str, str]

    def text(self, language: str, default_language: str = DEFAULT_LANGUAGE) -> str:
        return self.by_language.get(language) or self.by_language.get(default_language) or ""


class Catalogue:
    """All texts of all languages, looked up by dotted key."""

    def __init__(
        self,
        texts: dict[str, dict[str, str]],
        default_language: str = DEFAULT_LANGUAGE,
        lists: dict[str, dict[str, tuple[str, ...]]] | None = None,
    ):
        self._texts = texts
        self.default_language = default_language
        # Values every template may use (the command prefix, the community's name).
        self.globals: dict[str, Any] = {}
        self._lists = lists or {}
        # Word lists are looked up for every DM answer: normalised once here.
        self._word_lists: dict[tuple[str, str | None], frozenset[str]] = {}
        for lang, by_key in self._lists.items():
            for key, items in by_key.items():
                words = frozenset(normalise_word(item) for item in items)
                self._word_lists[(key, lang)] = words
                self._word_lists[(key, None)] = self._word_lists.get((key, None), frozenset()) | words

    @classmethod
    def load(cls, directories: Iterable[Path], default_language: str = DEFAULT_LANGUAGE) -> Catalogue:
        texts: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
        lists: dict[str, dict[str, tuple[str, ...]]] = {lang: {} for lang in LANGUAGES}
        for directory in directories:
            for lang in LANGUAGES:
                path = directory / f"{lang}.yaml"
                if not path.exists():
                    continue
                with path.open(encoding="utf-8") as fh:
                    # libyaml's loader where PyYAML has it: the catalogues of every
                    # feature took about a second of each start with the pure-Python one.
                    data = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
                _flatten("", data, texts[lang], path, lists[lang])
        return cls(texts, default_language, lists)

    def word_list(self, key: str, language: str | None = None) -> frozenset[str]:
        """The normalised items of the YAML list at ``key``: of every language, or of one.

        For a feature's own answer words (``casus.words.anonymous``); the shared ones are
        read with :meth:`words`."""
        found = self._word_lists.get((key, language))
        if found is None:
            log.error("missing word list %s", key)
            return frozenset()
        return found

    def first_word(self, key: str, language: str) -> str:
        """The first item of the list at ``key`` in ``language``: the name to show (an
        option's name in the member's language when listing the options)."""
        for lang in (language, self.default_language):
            items = self._lists.get(lang, {}).get(key)
            if items:
                return items[0]
        log.error("missing word list %s", key)
        return key

    def words(self, name: WordSet, language: str | None = None) -> frozenset[str]:
        """What members type for ``yes``, ``no``, ``keep``...: ``core.words.<name>``.

        Without ``language`` the words of every language: members mix languages in
        short answers, and no word in one language's list means the opposite in another.
        """
        return self.word_list(WORDS_PREFIX + name, language)

    def yes_no(self, text: str) -> bool | None:
        """True for a yes word, False for a no word, None for anything else."""
        word = normalise_word(text)
        if word in self.words("yes"):
            return True
        if word in self.words("no"):
            return False
        return None

    def switch(self, text: str) -> bool | None:
        """A setting's value: yes or on (``aan``) is True, no or off (``uit``) is False."""
        word = normalise_word(text)
        if word in self.words("yes") or word in self.words("on"):
            return True
        if word in self.words("no") or word in self.words("off"):
            return False
        return None

    def is_word(self, name: WordSet, text: str) -> bool:
        """Whether ``text`` is one of the ``name`` words (``stop``, ``terug``...)."""
        return normalise_word(text) in self.words(name)

    def languages(self) -> tuple[str, ...]:
        return tuple(self._texts)

    def keys(self, language: str) -> set[str]:
        return set(self._texts.get(language, {}))

    def has(self, key: str) -> bool:
        return key in self._texts.get(self.default_language, {})

    def template(self, language: str, key: str) -> str:
        """The raw template; falls back to the default language, then to the key itself."""
        for lang in (language, self.default_language):
            found = self._texts.get(lang, {}).get(key)
            if found is not None:
                return found
        log.error("missing catalogue key %s", key)
        return key

    def _params(self, language: str, params: Mapping[str, Any]) -> dict[str, Any]:
        values = {**self.globals, **params}
        for name, value in values.items():
            if isinstance(value, Localised):
                values[name] = value.text(language, self.default_language)
        return values

    def text(self, language: str, key: str, params: Mapping[str, Any]) -> str:
        """The template of ``key`` with its plural forms chosen for ``params``."""
        template = self.template(language, key)
        return choose_plurals(template, language, params) if "|" in template else template

    def render(self, language: str, key: str, /, **params: Any) -> Rendered:
        """The text of ``key`` in ``language`` with member values escaped for HTML."""
        values = self._params(language, params)
        return render(self.text(language, key, values), values)

    def fragment(self, language: str, key: str, /, **params: Any) -> Markup:
        """A trusted piece of a larger message (a list line, a card section)."""
        values = self._params(language, params)
        return fragment(self.text(language, key, values), values)

    def plain(self, language: str, key: str, /, **params: Any) -> str:
        """Only the plain text (for places that take no formatting, like a room name).

        No HTML is built: labels are read this way many times per message."""
        values = self._params(language, params)
        return fragment(self.text(language, key, values), values).plain

    def series(self, language: str, items: Iterable[str], joiner: Joiner = "or") -> str:
        """``a, b or c`` / ``a, b of c``: a list in a sentence, in ``language``."""
        parts = list(items)
        if len(parts) <= 1:
            return "".join(parts)
        return self.plain(language, f"core.series.{joiner}", items=", ".join(parts[:-1]), last=parts[-1])


@functools.cache
def core_catalogue() -> Catalogue:
    """The core's own catalogue (``bot/locale``), read once.

    For the few pure parsers called without a catalogue at hand (a setting typed as
    ``aan``/``uit``): the words come from the same YAML as everywhere else. The data
    never changes while the bot runs, so reading it once is safe."""
    return Catalogue.load([CORE_LOCALE])


def _babel_locale(language: str) -> str:
    return "nl_NL" if language == "nl" else "en_GB"


def format_datetime(moment: datetime, language: str, timezone: str, fmt: str = "long") -> str:
    """A moment in the community (or member) time zone, the Dutch or English way.

    ``fmt`` is a Babel format name (short, medium, long, full) or a pattern.
    """
    local = moment.astimezone(ZoneInfo(timezone))
    if fmt == "long":
        # "dinsdag 16 maart 2027 om 09:30" / "Tuesday 16 March 2027 at 09:30"
        day = babel_format_date(local.date(), "EEEE d MMMM y", locale=_babel_locale(language))
        clock = babel_format_time(local.time(), "HH:mm", locale=_babel_locale(language))
        joiner = "om" if language == "nl" else "at"
        return f"{day} {joiner} {clock}"
    return babel_format_datetime(local, fmt, locale=_babel_locale(language))


def format_date(day: date, language: str, fmt: str = "EEEE d MMMM y") -> str:
    """A date the Dutch or English way (``dinsdag 16 maart 2027``)."""
    return babel_format_date(day, fmt, locale=_babel_locale(language))


def format_time(moment: datetime, language: str, timezone: str) -> str:
    """Only the clock time (24-hour) in the given zone."""
    local = moment.astimezone(ZoneInfo(timezone))
    return babel_format_time(local.time(), "HH:mm", locale=_babel_locale(language))
