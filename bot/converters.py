"""Turn a command's text into the arguments its signature declares.

Supported annotations: ``str``, ``int``, ``float``, ``bool`` (ja/nee, yes/no, aan/uit,
on/off: the ``core.words`` lists of the catalogue), :class:`~bot.ids.UserId`
(``@name:server`` or a matrix.to link),
``datetime.date`` (16-03-2027, 2027-03-16, 16 maart [2027], dinsdag 16 maart),
``Literal[...]`` choices, :class:`Options` (every ``key=value`` token), and ``X | None``
with a default. A keyword-only ``str`` parameter takes the rest of the text as typed.
"""

from __future__ import annotations

import calendar
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal, Union, get_args, get_origin

from bot.errors import BadArgument, MissingArgument, RegistryError, UserError
from bot.i18n import LANGUAGES, Catalogue, Localised, core_catalogue, format_date
from bot.ids import UserId
from bot.textnorm import is_number

_QUOTES = {'"': '"', "“": "”", "„": "”", "'": "'", "‘": "’", "«": "»"}
_USER_RE = re.compile(r"^@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-:\[\]]+$")
_MATRIX_TO_RE = re.compile(r"^https://matrix\.to/#/(@[^/?\s]+)")
_OPTION_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_\-]*)=(.*)$", re.DOTALL)
_MAX_TOKENS = 200

MONTHS = {
    "januari": 1,
    "jan": 1,
    "january": 1,
    "februari": 2,
    "feb": 2,
    "february": 2,
    "maart": 3,
    "mrt": 3,
    "march": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "mei": 5,
    "may": 5,
    "juni": 6,
    "jun": 6,
    "june": 6,
    "juli": 7,
    "jul": 7,
    "july": 7,
    "augustus": 8,
    "aug": 8,
    "august": 8,
    "september": 9,
    "sep": 9,
    "sept": 9,
    "oktober": 10,
    "okt": 10,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
}
WEEKDAYS = {
    "maandag": 0,
    "ma": 0,
    "monday": 0,
    "mon": 0,
    "dinsdag": 1,
    "di": 1,
    "tuesday": 1,
    "tue": 1,
    "woensdag": 2,
    "wo": 2,
    "wednesday": 2,
    "wed": 2,
    "donderdag": 3,
    "do": 3,
    "thursday": 3,
    "thu": 3,
    "vrijdag": 4,
    "vr": 4,
    "friday": 4,
    "fri": 4,
    "zaterdag": 5,
    "za": 5,
    "saturday": 5,
    "sat": 5,
    "zondag": 6,
    "zo": 6,
    "sunday": 6,
    "sun": 6,
}


class Options(Mapping[str, str]):
    """The ``key=value`` options of a command, keys lower-cased, in the order given."""

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items = dict(items or {})

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Options({self._items!r})"

    def first(self, *names: str) -> str | None:
        """The value of the first of several synonyms (``beroep``, ``profession``)."""
        for name in names:
            if name in self._items:
                return self._items[name]
        return None


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int
    quoted: bool = False


def tokenize(text: str) -> list[Token]:
    """Split on white space, keeping quoted parts (also after ``key=``) together."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n and len(tokens) < _MAX_TOKENS:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        start = i
        parts: list[str] = []
        quoted = False
        while i < n and not text[i].isspace():
            ch = text[i]
            closing = _QUOTES.get(ch)
            if closing is not None:
                end = text.find(closing, i + 1)
                if end == -1:  # an unmatched quote is just a character
                    parts.append(ch)
                    i += 1
                    continue
                parts.append(text[i + 1 : end])
                quoted = True
                i = end + 1
                continue
            parts.append(ch)
            i += 1
        tokens.append(Token("".join(parts), start, i, quoted))
    if len(tokens) >= _MAX_TOKENS and i < n:
        tokens.append(Token(text[i:].strip(), i, n))
    return tokens


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a command, as the router needs to know it."""

    name: str
    annotation: Any
    required: bool
    default: Any
    kind: Literal["positional", "options", "rest"]

    def usage(self, label: str) -> str:
        if self.kind == "options":
            return "[optie=waarde …]" if label == self.name else label
        text = f"<{label}>" if self.required else f"[{label}]"
        return text + (" …" if self.kind == "rest" else "")


def _unwrap_optional(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def inspect_params(callback: Callable[..., Any], command_name: str) -> list[ParamSpec]:
    """Read a bound command method's signature (after ``self`` and ``ctx``)."""
    signature = inspect.signature(callback)
    hints = typing.get_type_hints(callback)
    params = list(signature.parameters.values())
    if not params or params[0].name != "ctx":
        raise RegistryError(f"command {command_name!r}: the first parameter must be ctx")
    specs: list[ParamSpec] = []
    for param in params[1:]:
        annotation = _unwrap_optional(hints.get(param.name, str))
        required = param.default is inspect.Parameter.empty
        default = None if required else param.default
        if annotation is Options:
            kind: Literal["positional", "options", "rest"] = "options"
            required = False
        elif param.kind is inspect.Parameter.KEYWORD_ONLY:
            if annotation is not str:
                raise RegistryError(f"command {command_name!r}: keyword-only {param.name} must be str")
            kind = "rest"
        elif param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise RegistryError(f"command {command_name!r}: *args/**kwargs are not supported")
        else:
            kind = "positional"
        specs.append(ParamSpec(param.name, annotation, required, default, kind))
    return specs


def parse_bool(value: str, catalogue: Catalogue | None = None) -> bool | None:
    """A yes/no or on/off setting (``ja``, ``uit``, ``yes``...); None when it is neither.

    The words are the catalogue's ``core.words`` (yes/on, no/off); without a catalogue
    the core's own, which are the same lists."""
    return (catalogue or core_catalogue()).switch(value)


def parse_user_id(value: str, default_server: str | None = None) -> UserId | None:
    value = value.strip().rstrip(",.;:!?") if not value.endswith(":") else value.strip()
    match = _MATRIX_TO_RE.match(value)
    if match:
        value = match.group(1)
    if not value.startswith("@") and default_server and re.fullmatch(r"[a-z0-9._=\-/+]+", value):
        value = f"@{value}:{default_server}"
    if _USER_RE.match(value.lower()):
        return UserId(value.lower())
    return None


def parse_date(value: str, today: date) -> date | None:
    """Dutch and English date forms; a date without a year is the next one from today.

    None when the text is no date at all. A date that does not exist ("31 februari")
    and a weekday that contradicts the date ("woensdag 16 maart" on a Tuesday) raise a
    :class:`UserError` that says so: guessing either way could plan the wrong day."""
    text = value.strip().lower().replace(",", " ")
    match = re.fullmatch(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})", text)
    if match:
        d, m, y = (int(g) for g in match.groups())
        return _safe_date(y, m, d, value)
    match = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    if match:
        y, m, d = (int(g) for g in match.groups())
        return _safe_date(y, m, d, value)
    words = text.split()
    weekday: int | None = None
    if words and words[0] in WEEKDAYS and len(words) > 1:
        weekday = WEEKDAYS[words[0]]
        words = words[1:]
    if len(words) in (2, 3) and words[0] in MONTHS and is_number(words[1]):  # "March 16 2027"
        words = [words[1], words[0], *words[2:]]
    if len(words) in (2, 3) and is_number(words[0]) and words[1] in MONTHS:
        d, m = int(words[0]), MONTHS[words[1]]
        if len(words) == 3:
            if not is_number(words[2]):
                return None
            candidate = _safe_date(int(words[2]), m, d, value)
        else:
            candidate = _safe_date(today.year, m, d, value, missing_ok=True)
            if candidate is None or candidate < today:
                candidate = _safe_date(today.year + 1, m, d, value)
        if candidate is not None and weekday is not None and candidate.weekday() != weekday:
            raise _weekday_mismatch(value, candidate, weekday)
        return candidate
    return None


def _safe_date(year: int, month: int, day: int, value: str, *, missing_ok: bool = False) -> date | None:
    """The date, None for numbers that are no date; a day past the month's end (31 February,
    29 February outside a leap year) is named as not existing."""
    try:
        return date(year, month, day)
    except ValueError:
        if missing_ok or not (1 <= month <= 12 and 1 <= day <= 31):
            return None
    last = date(year, month, calendar.monthrange(year, month)[1])
    raise UserError(
        "core.error.no_such_date",
        value=value.strip()[:40],
        last=Localised({lang: format_date(last, lang, "d MMMM y") for lang in LANGUAGES}),
    )


def _weekday_mismatch(value: str, day: date, weekday: int) -> UserError:
    """"woensdag 16 maart" when 16 March is a Tuesday: both readings, for the member to choose."""
    shift = (weekday - day.weekday() + 3) % 7 - 3  # the nearest day with the weekday named
    other = day + timedelta(days=shift)
    return UserError(
        "core.error.weekday_mismatch",
        value=value.strip()[:40],
        actual=Localised({lang: format_date(day, lang, "EEEE d MMMM") for lang in LANGUAGES}),
        named=Localised({lang: format_date(other, lang, "EEEE d MMMM") for lang in LANGUAGES}),
    )


@dataclass(frozen=True)
class ConversionContext:
    """What converters may need to know beyond the text."""

    today: date
    server_name: str | None
    # The words for yes and no; the core catalogue's when not given.
    catalogue: Catalogue | None = None


def convert(value: str, annotation: Any, param: str, ctx: ConversionContext) -> Any:
    """Convert one token; raises :class:`BadArgument` with a catalogue key on failure."""
    if annotation is str or annotation is Any:
        return value
    if annotation is int:
        if re.fullmatch(r"[+-]?\d{1,12}", value.strip()):
            return int(value)
        raise BadArgument("core.error.bad_int", param=param, value=value)
    if annotation is float:
        try:
            result = float(value.replace(",", "."))
        except ValueError:
            result = float("nan")
        if result == result and abs(result) < 1e15:
            return result
        raise BadArgument("core.error.bad_number", param=param, value=value)
    if annotation is bool:
        parsed = parse_bool(value, ctx.catalogue)
        if parsed is None:
            raise BadArgument("core.error.bad_bool", param=param, value=value)
        return parsed
    if annotation is UserId:
        user = parse_user_id(value, ctx.server_name)
        if user is None:
            raise BadArgument("core.error.bad_user", param=param, value=value)
        return user
    if annotation is date:
        day = parse_date(value, ctx.today)
        if day is None:
            raise BadArgument("core.error.bad_date", param=param, value=value)
        return day
    if get_origin(annotation) is Literal:
        choices = [str(c) for c in get_args(annotation)]
        lowered = value.strip().lower()
        if lowered in choices:
            return lowered
        raise BadArgument("core.error.bad_choice", param=param, value=value, choices=", ".join(choices))
    raise BadArgument("core.error.bad_argument", param=param, value=value)


def bind_arguments(
    params: list[ParamSpec], text: str, ctx: ConversionContext
) -> tuple[dict[str, Any], list[str]]:
    """Match the command's text to its parameters.

    Returns the keyword arguments and any tokens left over (the router reports them).
    """
    tokens = tokenize(text)
    has_options = any(p.kind == "options" for p in params)
    options: dict[str, str] = {}
    positional: list[Token] = []
    for token in tokens:
        match = _OPTION_RE.match(token.text) if has_options else None
        if match:
            # As typed (quotes removed): parsers strip, and a length they report is then
            # the one the member counted, closing space included.
            options[match.group(1).lower()] = match.group(2)
        else:
            positional.append(token)
    kwargs: dict[str, Any] = {}
    index = 0
    for spec in params:
        if spec.kind == "options":
            kwargs[spec.name] = Options(options)
        elif spec.kind == "rest":
            if index < len(positional):
                kwargs[spec.name] = text[positional[index].start :].strip()
                index = len(positional)
            elif spec.required:
                raise MissingArgument("core.error.missing_argument", param=spec.name)
            else:
                kwargs[spec.name] = spec.default
        elif index < len(positional):
            kwargs[spec.name] = convert(positional[index].text, spec.annotation, spec.name, ctx)
            index += 1
        elif spec.required:
            raise MissingArgument("core.error.missing_argument", param=spec.name)
        else:
            kwargs[spec.name] = spec.default
    return kwargs, [t.text for t in positional[index:]]
