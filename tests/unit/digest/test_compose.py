"""Putting a digest together: order, left-out threads, empty sections, "and N more"."""

from __future__ import annotations

from bot.formatting import Markup
from commands.digest.compose import MAX_ITEMS, compose
from commands.digest.sources import DigestItem, DigestSection


def line(text: str) -> Markup:
    return Markup(text, text)


def test_sections_in_order_without_taken_part_threads_and_without_empty_ones() -> None:
    questions = DigestSection(
        20, line("Vragen"), (DigestItem(line("q1"), "$q1"), DigestItem(line("q2"), "$q2"))
    )
    buddy = DigestSection(10, line("Buddy"), (DigestItem(line("b1")),))
    empty = DigestSection(5, line("Leeg"), ())
    composed = compose([questions, buddy, empty], taken_part={"$q1"})
    assert [c.title.plain for c in composed] == ["Buddy", "Vragen"]
    assert [m.plain for m in composed[1].lines] == ["q2"]


def test_a_member_who_took_part_in_everything_gets_nothing() -> None:
    questions = DigestSection(20, line("Vragen"), (DigestItem(line("q1"), "$q1"),))
    assert compose([questions], taken_part={"$q1"}) == []
    assert compose([], taken_part=set()) == []


def test_long_sections_are_cut_with_a_count_of_the_rest() -> None:
    items = tuple(DigestItem(line(f"n{i}")) for i in range(MAX_ITEMS + 2))
    [composed] = compose([DigestSection(30, line("Nieuw"), items, more=4)], taken_part=set())
    assert len(composed.lines) == MAX_ITEMS
    assert composed.more == 2 + 4
