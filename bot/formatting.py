"""Turn catalogue templates plus member-supplied values into a plain body and safe HTML.

Templates come from our own catalogues and may use Markdown. Values come from members
and must never add markup of their own. Rather than guessing how to escape a value for
each Markdown context (inside a code span a backslash escape would show up literally),
each value is replaced by an inert placeholder token, the Markdown is rendered, and only
then are the tokens replaced by the HTML-escaped values. The result is sanitised with an
allow-list as a last line of defence. ``@room`` in a value gets an invisible word
joiner, so a member cannot ping a whole room through the bot.
"""

from __future__ import annotations

import html
import itertools
import logging
import re
import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import markdown
import nh3

log = logging.getLogger(__name__)

_ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "b",
    "i",
    "u",
    "s",
    "del",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "span",
    "sup",
    "sub",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "details",
    "summary",
}
_ALLOWED_ATTRIBUTES = {"a": {"href"}, "ol": {"start"}, "span": {"data-mx-spoiler"}}
_ALLOWED_URL_SCHEMES = {"https", "http", "mailto", "matrix"}
_ROOM_PING = re.compile(r"@(room)\b", re.IGNORECASE)
_WORD_JOINER = "\u2060"
_MAX_VALUE_CHARS = 4000
_token_counter = itertools.count(1)
_TOKEN = re.compile(r"kbtok\d+x[0-9a-f]{8}z")
# An optional part left empty ("{missing}" between two paragraphs) would leave a gap of
# several empty lines: a message never has more than one empty line in a row.
_GAP = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


@dataclass(frozen=True)
class Rendered:
    """A message ready to send: the plain body and its sanitised HTML."""

    plain: str
    html: str


@dataclass(frozen=True)
class Markup:
    """A trusted fragment: Markdown with value tokens, its plain text, and token values."""

    markdown: str
    plain: str
    values: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def join(cls, parts: Iterable[Markup], sep: str = "\n") -> Markup:
        items = list(parts)
        values: dict[str, str] = {}
        for item in items:
            values.update(item.values)
        return cls(
            markdown=sep.join(p.markdown for p in items),
            plain=sep.join(p.plain for p in items),
            values=values,
        )


def defuse_room_ping(text: str) -> str:
    """Break ``@room`` so clients do not treat a member's text as a room-wide ping."""
    return _ROOM_PING.sub(lambda m: "@" + _WORD_JOINER + m.group(1), text)


def _clip(value: str) -> str:
    return value if len(value) <= _MAX_VALUE_CHARS else value[: _MAX_VALUE_CHARS - 1] + "…"


def _new_token() -> str:
    # Lower-case letters and digits only: no Markdown construct can change them. The
    # random part keeps a member from typing another value's token on purpose.
    return f"kbtok{next(_token_counter)}x{secrets.token_hex(4)}z"


class _Missing(dict[str, Any]):
    """Leaves an unknown placeholder visible instead of failing the whole message."""

    def __missing__(self, key: str) -> str:
        log.error("template placeholder {%s} has no value", key)
        return "{" + key + "}"


class _SafeFormatter(string.Formatter):
    """``str.format`` that fills only plain named fields: no attribute or index access."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        if not field_name.isidentifier():
            return "{" + field_name + "}", field_name
        return kwargs[field_name], field_name


_FORMATTER = _SafeFormatter()


def fill(template: str, params: Mapping[str, Any]) -> str:
    """Fill ``{name}`` placeholders with values as they are."""
    try:
        return _FORMATTER.vformat(template, (), _Missing(params))
    except (ValueError, IndexError):
        log.error("malformed template %r", template[:60])
        return template


_BLANK_RUN = re.compile(r"\n\s*\n(?:\s*\n)+")


def _value_html(text: str) -> str:
    # A member's text that ends in line breaks would push what follows (a footer) three
    # empty lines down; inside, one empty line between paragraphs is enough, as in plain.
    text = _BLANK_RUN.sub("\n\n", text.strip("\r\n"))
    return html.escape(text, quote=True).replace("\n", "<br>")


def fragment(template: str, params: Mapping[str, Any] | None = None) -> Markup:
    """Fill a template into a trusted fragment; member values become inert tokens."""
    md_values: dict[str, Any] = {}
    plain_values: dict[str, Any] = {}
    token_values: dict[str, str] = {}
    for name, value in (params or {}).items():
        if isinstance(value, Markup):
            md_values[name], plain_values[name] = value.markdown, value.plain
            token_values.update(value.values)
            continue
        text = defuse_room_ping(_clip("" if value is None else str(value)))
        if not text:
            # Nothing to escape, and no token: an empty optional part must leave no
            # paragraph of its own in the HTML.
            md_values[name] = plain_values[name] = ""
            continue
        token = _new_token()
        md_values[name], plain_values[name] = token, text
        token_values[token] = _value_html(text)
    return Markup(fill(template, md_values), fill(template, plain_values), token_values)


_STORED = "__markup__"


def markup_to_json(markup: Markup) -> dict[str, object]:
    """A fragment as JSON, to be stored (a nudge's parameters) and rendered later."""
    return {_STORED: {"markdown": markup.markdown, "plain": markup.plain, "values": dict(markup.values)}}


def markup_from_json(value: object) -> Markup | None:
    """The fragment :func:`markup_to_json` stored, or None when ``value`` is not one.

    Token values are spliced into the HTML after Markdown, so they must be escaped text:
    each is escaped again from its plain form (a no-op for what :func:`fragment` made),
    so member text stays inert even if a stored value was altered. Keys that are not
    tokens could never be substituted and are dropped.
    """
    if not isinstance(value, dict) or set(value) != {_STORED} or not isinstance(value[_STORED], dict):
        return None
    data = value[_STORED]
    markdown, plain, values = data.get("markdown"), data.get("plain"), data.get("values") or {}
    if not isinstance(markdown, str) or not isinstance(plain, str) or not isinstance(values, dict):
        return None
    kept = {
        token: _value_html(html.unescape(text.replace("<br>", "\n")))
        for token, text in values.items()
        if isinstance(token, str) and isinstance(text, str) and _TOKEN.fullmatch(token)
    }
    return Markup(markdown, plain, kept)


class _MarkdownRenderer:
    """One reusable Markdown converter: building one per message (loading extensions)
    cost more than the rest of answering a command."""

    def __init__(self) -> None:
        self._md = markdown.Markdown(extensions=["sane_lists", "nl2br"], output_format="html")

    def convert(self, text: str) -> str:
        self._md.reset()
        return self._md.convert(text)


_RENDERER = _MarkdownRenderer()


def sanitise(fragment_html: str) -> str:
    """Allow-listed tags, attributes and URL schemes only."""
    return nh3.clean(
        fragment_html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes=_ALLOWED_URL_SCHEMES,
        link_rel=None,
    ).strip()


def _close_gaps(text: str) -> str:
    return _GAP.sub("\n\n", text).strip("\n")


def render(template: str, params: Mapping[str, Any] | None = None) -> Rendered:
    """Build the plain body and the HTML of a template filled with member values."""
    built = fragment(template, params)
    built = Markup(_close_gaps(built.markdown), _close_gaps(built.plain), built.values)
    rendered = _RENDERER.convert(built.markdown)
    # One pass over the rendered template: text a value brings in is never scanned again.
    rendered = _TOKEN.sub(lambda m: built.values.get(m.group(0), m.group(0)), rendered)
    return Rendered(plain=built.plain, html=sanitise(rendered))
