"""Invisible characters out of what members type, before the router reads a command.

Zero-width characters and bidirectional controls do not show, so ``!help`` with a
zero-width space after the ``!`` (or a right-to-left mark before it) looks like
``!help`` to the member who typed or pasted it. The router removes them from the whole
message and compares command words in NFKC form (so a full-width ``！ｈｅｌｐ`` is
``!help`` too); the free text after a command keeps its own form. A zero-width joiner
between two emoji stays: it is what makes 👩‍⚕️ one picture.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
"""Zero-width space, non-joiner, joiner, word joiner, byte order mark."""

BIDI_CONTROLS = "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
"""Left-to-right/right-to-left marks, embeddings, overrides and isolates."""

OTHER_INVISIBLE = "\u00ad\u180e\u2061\u2062\u2063\u2064"
"""Soft hyphen, Mongolian vowel separator, invisible mathematical operators."""

SLASH_PREFIX = "/"
"""Also a command prefix: clients with slash commands of their own send ``//intro`` as
``/intro``, and MSC4391 clients show the bot's commands as ``/intro``. The router takes
it only when the words after it name a command."""

_JOINER = "\u200d"
_INVISIBLE = re.compile(f"[{re.escape(ZERO_WIDTH + BIDI_CONTROLS + OTHER_INVISIBLE)}]")
_EMOJI_TAIL = {"\ufe0f"}  # the emoji presentation selector may sit before a joiner


def _is_emoji_part(char: str, *, before: bool) -> bool:
    if before and char in _EMOJI_TAIL:
        return True
    return unicodedata.category(char) in ("So", "Sk")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def strip_invisible(text: str, *, keep_emoji_joiners: bool = True) -> str:
    """``text`` without zero-width, bidi-control and other invisible characters.

    Lone surrogates (possible in JSON, impossible to store as UTF-8) become U+FFFD.
    """
    text = _LONE_SURROGATE.sub("\ufffd", text)
    if not _INVISIBLE.search(text):
        return text

    def replace(match: re.Match[str]) -> str:
        if keep_emoji_joiners and match.group() == _JOINER:
            at = match.start()
            if (
                0 < at < len(text) - 1
                and _is_emoji_part(text[at - 1], before=True)
                and _is_emoji_part(text[at + 1], before=False)
            ):
                return _JOINER
        return ""

    return _INVISIBLE.sub(replace, text)


def command_form(text: str) -> str:
    """The form a command word is compared in: no invisible characters, NFKC."""
    return unicodedata.normalize("NFKC", strip_invisible(text, keep_emoji_joiners=False))


def after_prefix(text: str, prefix: str) -> str | None:
    """The text after a leading command prefix (also in a compatibility form, such as a
    full-width ``！``), or None when ``text`` does not start with the prefix."""
    if not prefix:
        return None
    if text.startswith(prefix):
        return text[len(prefix) :]
    wanted = unicodedata.normalize("NFKC", prefix)
    # A prefix is a character or two; its compatibility form spans a few more at most.
    for length in range(1, min(len(text), len(wanted) + 4) + 1):
        if unicodedata.normalize("NFKC", text[:length]) == wanted:
            return text[length:]
    return None


def is_number(text: str, max_digits: int = 6) -> bool:
    """A plain ASCII whole number that ``int()`` reads cheaply (not "²", not 5,000 digits)."""
    return text.isascii() and text.isdigit() and len(text) <= max_digits


def split_list(text: str, is_item: Callable[[str], bool] | None = None) -> list[str]:
    """The parts of a list answer: ``ma, di en do``, ``1;3``, ``1/3`` or ``ma di``, in order.

    ``is_item`` recognises one whole answer, so a label that itself holds "en" or spaces
    ("Inspiratie en kennis opdoen") is not cut into pieces.
    """
    whole = text.strip()
    if is_item is not None and whole and is_item(whole):
        return [whole]
    cleaned = whole.replace(";", ",").replace("/", ",").replace(" en ", ",").replace(" and ", ",")
    parts = [p.strip() for p in cleaned.split(",") if p.strip()]
    if len(parts) == 1 and " " in parts[0] and (is_item is None or not is_item(parts[0])):
        parts = parts[0].split()
    return parts


def closest(text: str, names: Iterable[str], *, cutoff: float = 0.8, min_length: int = 3) -> str | None:
    """The name nearest to what a member typed, for a "did you mean …?" (``utrechtt`` ->
    ``utrecht``); None when nothing is close. Names shorter than ``min_length`` (and such a
    text) are left out: two letters are an abbreviation, not a typo."""
    cleaned = " ".join(text.strip().lower().split())
    if len(cleaned) < min_length:
        return None
    candidates = sorted({n.lower() for n in names if len(n) >= min_length})
    match = difflib.get_close_matches(cleaned, candidates, n=1, cutoff=cutoff)
    return match[0] if match else None
