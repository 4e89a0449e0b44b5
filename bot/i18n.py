"""Message catalogues (Dutch first, English second) and locale-aware dates.

Every user-facing text lives in ``locale/<lang>.yaml`` files: the core's own in
``bot/locale`` and each feature's in ``commands/<feature>/locale``. Nested YAML keys are
flattened into dotted keys (``core.help.title``). Both languages must have the same
keys and the same placeholders; a test checks it.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.dates import format_time as babel_format_time

from bot.formatting import Markup, Rendered, fragment, render

log = logging.getLogger(__name__)

LANGUAGES: tuple[str, ...] = ("nl", "en")
DEFAULT_LANGUAGE = "nl"


class CatalogueError(Exception):
    """A catalogue file is malformed or defines a key twice."""


def _flatten(prefix: str, node: Any, out: dict[str, str], source: Path) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, out, source)
    elif isinstance(node, str):
        if prefix in out:
            raise CatalogueError(f"{source}: key {prefix!r} is defined twice")
        out[prefix] = node
    elif isinstance(node, list) and all(isinstance(x, str) for x in node):
        # Lists of strings (e.g. word lists) are kept joined by newlines.
        out[prefix] = "\n".join(node)
    else:
        raise CatalogueError(f"{source}: {prefix!r} must be text, not {type(node).__name__}")


def placeholders(template: str) -> set[str]:
    """The ``{name}`` placeholders a template uses."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class Catalogue:
    """All texts of all languages, looked up by dotted key."""

    def __init__(self, texts: dict[str, dict[str, str]], default_language: str = DEFAULT_LANGUAGE):
        self._texts = texts
        self.default_language = default_language
        # Values every template may use (the command prefix, the community's name).
        self.globals: dict[str, Any] = {}

    @classmethod
    def load(cls, directories: Iterable[Path], default_language: str = DEFAULT_LANGUAGE) -> Catalogue:
        texts: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
        for directory in directories:
            for lang in LANGUAGES:
                path = directory / f"{lang}.yaml"
                if not path.exists():
                    continue
                with path.open(encoding="utf-8") as fh:
                    data = yaml.safe_load(fh) or {}
                _flatten("", data, texts[lang], path)
        return cls(texts, default_language)

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

    def render(self, language: str, key: str, /, **params: Any) -> Rendered:
        """The text of ``key`` in ``language`` with member values escaped for HTML."""
        return render(self.template(language, key), {**self.globals, **params})

    def fragment(self, language: str, key: str, /, **params: Any) -> Markup:
        """A trusted piece of a larger message (a list line, a card section)."""
        return fragment(self.template(language, key), {**self.globals, **params})

    def plain(self, language: str, key: str, /, **params: Any) -> str:
        """Only the plain text (for places that take no formatting, like a room name).

        No HTML is built: labels are read this way many times per message."""
        return fragment(self.template(language, key), {**self.globals, **params}).plain


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
