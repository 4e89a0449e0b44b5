"""Putting a member's digest together: pure, so it is tested without a database."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.formatting import Markup
from commands.digest.sources import ITEMS_SHOWN, DigestItem, DigestSection

MAX_ITEMS = ITEMS_SHOWN


@dataclass(frozen=True)
class ComposedSection:
    title: Markup
    lines: tuple[Markup, ...]
    more: int


def compose(
    sections: Iterable[DigestSection], taken_part: set[str], max_items: int = MAX_ITEMS
) -> list[ComposedSection]:
    """Sections in order, each without the lines the member already took part in;
    empty sections are left out. An empty list means: send nothing."""
    result: list[ComposedSection] = []
    for section in sorted(sections, key=lambda s: s.order):
        items: list[DigestItem] = [i for i in section.items if i.thread is None or i.thread not in taken_part]
        if not items:
            continue
        shown = tuple(i.line for i in items[:max_items])
        result.append(ComposedSection(section.title, shown, len(items) - len(shown) + section.more))
    return result


def render_body(composed: list[ComposedSection], block: Callable[[ComposedSection], Markup]) -> Markup:
    return Markup.join((block(c) for c in composed), "\n\n")
