"""Counts read right for 0, 1 and 2 in both languages: no "1 koppel(s)" or "1 dagen"."""

from __future__ import annotations

import re

import pytest

from bot.app import locale_directories
from bot.i18n import LANGUAGES, Catalogue, choose_plurals, placeholders, plural_names

CATALOGUE = Catalogue.load(locale_directories())
COUNTED = sorted(
    {key for lang in LANGUAGES for key in CATALOGUE.keys(lang) if plural_names(CATALOGUE.template(lang, key))}
)
# "koppel(s)", "dag(en)", "response(s)": a count written for any number, read wrong for one.
HEDGED = re.compile(r"\w\((?:s|en|e|n|es)\)")


def test_plural_forms_exist() -> None:
    # The catalogues use the syntax; an empty list would make the next test vacuous.
    assert len(COUNTED) >= 20


@pytest.mark.parametrize("key", COUNTED)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_counted_text_reads_for_zero_one_and_two(key: str, language: str) -> None:
    template = CATALOGUE.template(language, key)
    # The counted names of either language (Dutch "uur" needs no plural form, English "hours" does).
    names = {n for lang in LANGUAGES for n in plural_names(CATALOGUE.template(lang, key))}
    others = {name: f"<{name}>" for name in placeholders(template) - names}
    for count in (0, 1, 2):
        text = CATALOGUE.plain(language, key, **others, **dict.fromkeys(names, count))
        assert "|" not in text and "#" not in text, (key, count, text)
        assert "{" not in text, (key, count, text)


def test_no_text_hedges_a_count() -> None:
    found = [
        (lang, key)
        for lang in LANGUAGES
        for key in CATALOGUE.keys(lang)
        if HEDGED.search(CATALOGUE.template(lang, key))
    ]
    assert found == []


def test_the_form_follows_the_count() -> None:
    template = "{n|geen reacties|# reactie|# reacties} en {days|# dag|# dagen}"
    assert choose_plurals(template, "nl", {"n": 0, "days": 1}) == "geen reacties en {days} dag"
    assert choose_plurals(template, "nl", {"n": 1, "days": 2}) == "{n} reactie en {days} dagen"
    assert choose_plurals(template, "en", {"n": "2", "days": "x"}) == "{n} reacties en {days} dagen"
    # Two forms: zero takes the other form ("0 dagen").
    assert choose_plurals("{d|# dag|# dagen}", "nl", {"d": 0}) == "{d} dagen"


def test_examples_read_as_written() -> None:
    assert (
        CATALOGUE.plain("nl", "buddy.status.available", max=1)
        == "- Beschikbaar als buddy, voor hoogstens 1 koppel"
    )
    assert (
        CATALOGUE.plain("en", "buddy.status.available", max=2)
        == "- Available as a buddy, for at most 2 pairs"
    )
    line = CATALOGUE.plain("nl", "questions.open.line", number=3, excerpt="x", answers=0, link="l")
    assert line == "- vraag 3: x (nog geen reacties) l"
    assert placeholders("{n|# a|# b} {m}") == {"n", "m"}
