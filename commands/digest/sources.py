"""The seam through which features contribute to a member's digest.

A feature that has something for the digest implements :class:`DigestSource` (one
method) on its feature class; the digest feature finds every such feature in the
registry at start. Casus and events plug in the same way, with no change here.

Sources work in batches: the weekly job asks once for all subscribers, so a source
reads its tables once instead of once per member.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.formatting import Markup, markup_to_json

ITEMS_SHOWN = 5
"""Lines per section in a digest; the rest is summarised as "and N more"."""


@dataclass(frozen=True)
class DigestRequest:
    """Who the digest is for and which window it covers."""

    user_id: str
    language: str
    profession: str | None
    themes: tuple[str, ...]
    since: datetime
    now: datetime


@dataclass(frozen=True)
class DigestItem:
    """One line; ``thread`` is the event it points to, so the line is left out when the
    member already took part there."""

    line: Markup
    thread: str | None = None


@dataclass(frozen=True)
class DigestSection:
    """A titled block; ``order`` places it (lower first). ``more`` counts lines a source
    left unrendered (it need not render more than ``ITEMS_SHOWN`` lines that have no
    thread: the digest shows no more than that)."""

    order: int
    title: Markup
    items: tuple[DigestItem, ...] = field(default_factory=tuple)
    more: int = 0


@runtime_checkable
class DigestSource(Protocol):
    async def digest_sections(self, requests: Sequence[DigestRequest]) -> Mapping[str, DigestSection]:
        """A section per user id that has something; members without one are left out."""
        ...


def markup_param(markup: Markup) -> dict[str, object]:
    """A fragment as JSON, for a nudge's stored parameters (revived at delivery)."""
    return markup_to_json(markup)
