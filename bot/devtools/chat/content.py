"""What an event's content looks like on screen: HTML (bold, lists, headings, code) and
plain bodies as Rich text, mentions and matrix.to links as names, polls from their text
fallback. Pure functions of the content, so they are tested without a homeserver."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote

from rich.text import Text

Names = Callable[[str], str]
"""A user id to the name shown for it."""

POLL_TYPES = frozenset({"org.matrix.msc3381.poll.start", "m.poll.start"})
MENTION_STYLE = "bold magenta"
_MATRIX_TO = re.compile(r"https://matrix\.to/#/([@#!][^\s)\]>\"'?]+)")
_BLOCKS = {"p", "div", "pre", "blockquote", "ul", "ol", "table", "tr"}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_INLINE_STYLES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "s": "strike",
    "del": "strike",
    "strike": "strike",
    "code": "bold cyan",
}


def matrix_to_target(href: str) -> str | None:
    """The user id, alias or room id a matrix.to link points to."""
    match = _MATRIX_TO.match(href)
    return unquote(match.group(1)).split("?")[0] if match else None


def link_name(target: str, names: Names) -> str:
    return names(target) if target.startswith("@") else target


class _HtmlToText(HTMLParser):
    def __init__(self, names: Names) -> None:
        super().__init__(convert_charrefs=True)
        self.names = names
        self.out = Text()
        self.styles: list[str] = []
        self.lists: list[list[int]] = []  # [is ordered, counter] per open list
        self.pre = 0
        self.skip = 0  # inside <mx-reply>: the reply fallback is not shown
        self.link: list[tuple[str | None, str | None]] = []  # (mention target, href)

    # Blank lines are asked for, not written, so nested blocks make one break, not three.
    def _break(self, lines: int) -> None:
        plain = self.out.plain
        if not plain.strip():
            return
        have = len(plain) - len(plain.rstrip("\n"))
        if have < lines:
            self.out.append("\n" * (lines - have))

    def _write(self, text: str, style: str | None = None) -> None:
        styles = [*self.styles, *([style] if style else [])]
        self.out.append(text, style=" ".join(styles) or None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "mx-reply" or self.skip:
            self.skip += tag == "mx-reply"
            return
        if tag in _INLINE_STYLES:
            self.styles.append(_INLINE_STYLES[tag] if not self.pre else "")
        elif tag in _HEADINGS:
            self._break(2)
            self.styles.append("bold underline")
        elif tag in ("ul", "ol"):
            self._break(1)
            self.lists.append([tag == "ol", 0])
        elif tag == "li":
            self._break(1)
            depth = max(len(self.lists), 1)
            marker = "•"
            if self.lists and self.lists[-1][0]:
                self.lists[-1][1] += 1
                marker = f"{self.lists[-1][1]}."
            self._write("  " * (depth - 1) + f"{marker} ")
        elif tag == "br":
            self.out.append("\n")
        elif tag == "hr":
            self._break(1)
            self._write("─" * 20 + "\n", "dim")
        elif tag == "pre":
            self._break(2)
            self.pre += 1
            self.styles.append("cyan")
        elif tag == "blockquote":
            self._break(2)
            self.styles.append("italic")
        elif tag in _BLOCKS:
            self._break(2)
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            target = matrix_to_target(href)
            self.link.append((target, href or None))
            if target is not None:
                self._write(link_name(target, self.names), MENTION_STYLE)
                self.skip += 1  # the link text is replaced by the name
            else:
                self.styles.append("underline")
        elif tag == "img":
            alt = dict(attrs).get("alt") or "image"
            self._write(f"[{alt}]", "dim")

    def handle_endtag(self, tag: str) -> None:
        if tag == "mx-reply":
            self.skip = max(self.skip - 1, 0)
            return
        if tag == "a" and self.link:
            target, href = self.link.pop()
            if target is not None:
                self.skip = max(self.skip - 1, 0)
                return
            if self.styles:
                self.styles.pop()
            if href and href not in self.out.plain[-len(href) - 2 :]:
                self._write(f" ({href})", "dim")
            return
        if self.skip:
            return
        if tag in _INLINE_STYLES or tag in _HEADINGS or tag in ("pre", "blockquote"):
            if self.styles:
                self.styles.pop()
            if tag == "pre":
                self.pre = max(self.pre - 1, 0)
        if tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        if tag in _HEADINGS or tag in _BLOCKS:
            self._break(2 if tag not in ("ul", "ol") or not self.lists else 1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if not self.pre:
            data = re.sub(r"\s+", " ", data)
            if self.out.plain.endswith(("\n", " ")) or not self.out.plain:
                data = data.lstrip()
        self._write(data)


def html_to_text(html: str, names: Names) -> Text:
    parser = _HtmlToText(names)
    parser.feed(html)
    parser.close()
    text = parser.out
    text.rstrip()
    return text


def plain_to_text(body: str, names: Names) -> Text:
    """A plain body: matrix.to links become names, the rest is shown as typed."""
    text = Text()
    last = 0
    for match in _MATRIX_TO.finditer(body):
        text.append(body[last : match.start()])
        target = unquote(match.group(1)).split("?")[0]
        text.append(link_name(target, names), style=MENTION_STYLE)
        last = match.end()
    text.append(body[last:])
    return text


def strip_reply_fallback(body: str) -> str:
    """A reply's body starts with quoted lines of the message it answers."""
    lines = body.split("\n")
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    if lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


def poll_text(content: Mapping[str, Any]) -> str:
    """A poll's text fallback: the question and its answers as the sender wrote them."""
    for key in ("org.matrix.msc1767.text", "m.text"):
        value = content.get(key)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, list):
            bodies = [part.get("body") for part in value if isinstance(part, Mapping)]
            plain = [b for b in bodies if isinstance(b, str) and b.strip()]
            if plain:
                return plain[0]
    body = content.get("body")
    if isinstance(body, str) and body.strip():
        return body
    # No fallback at all: the structured question and answers.
    start = content.get("org.matrix.msc3381.poll.start") or content.get("m.poll") or {}
    question = _first_text(start.get("question", {})) if isinstance(start, Mapping) else ""
    answers = start.get("answers", []) if isinstance(start, Mapping) else []
    lines = [question] + [
        f"{n}. {_first_text(a)}" for n, a in enumerate(answers, 1) if isinstance(a, Mapping)
    ]
    return "\n".join(line for line in lines if line)


def _first_text(node: Mapping[str, Any]) -> str:
    for key in ("org.matrix.msc1767.text", "body"):
        if isinstance(node.get(key), str):
            return str(node[key])
    parts = node.get("m.text")
    if isinstance(parts, list) and parts and isinstance(parts[0], Mapping):
        return str(parts[0].get("body", ""))
    return ""


def message_text(content: Mapping[str, Any], names: Names) -> Text:
    """The text of an ``m.room.message`` content: its HTML when it has some, else its body."""
    replying = isinstance(content.get("m.relates_to"), Mapping) and "m.in_reply_to" in content["m.relates_to"]
    html = content.get("formatted_body")
    if content.get("format") == "org.matrix.custom.html" and isinstance(html, str):
        return html_to_text(html, names)
    body = content.get("body")
    body = body if isinstance(body, str) else ""
    return plain_to_text(strip_reply_fallback(body) if replying else body, names)
