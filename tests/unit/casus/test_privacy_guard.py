"""The privacy guard on a corpus: every BSN, IBAN, phone number, e-mail address and
postcode found; the false-positive rate on realistic case texts printed (run with -s)."""

from __future__ import annotations

import pytest

from commands.casus.privacy_guard import CATEGORIES, categories, mask, screen
from tests.unit.casus.corpus import clean_texts, personal_texts

REQUIRED = ("bsn", "iban", "phone", "email", "postcode")


def test_the_corpus_is_large_enough() -> None:
    assert len(personal_texts()) >= 60 and len(clean_texts()) >= 60
    found = {category for _, category in personal_texts()}
    assert set(REQUIRED) <= found


@pytest.mark.parametrize("category", CATEGORIES)
def test_recall_per_category(category: str) -> None:
    texts = [text for text, wanted in personal_texts() if wanted == category]
    missed = [text for text in texts if category not in categories(text)]
    recall = 1 - len(missed) / len(texts)
    print(f"\nrecall {category}: {recall:.0%} of {len(texts)}")
    if category in REQUIRED:
        assert missed == [], missed


def test_false_positive_rate_on_clean_case_texts() -> None:
    texts = clean_texts()
    flagged = [(text[:60], sorted(categories(text))) for text in texts if screen(text)]
    rate = len(flagged) / len(texts)
    print(f"\nfalse positives: {len(flagged)} of {len(texts)} clean texts ({rate:.1%})")
    assert rate <= 0.05, flagged


@pytest.mark.parametrize(
    ("text", "category", "masked"),
    [
        ("BSN 111222333", "bsn", "11•••••33"),
        ("bel 06-12345678", "phone", "06••••••78"),
        ("tel. 0123 456789", "phone", "01••••••89"),  # unassigned, but written as a phone number
        ("bel me op (0123) 456 789", "phone", "01••••••89"),
        ("mail j.jansen@voorbeeld.nl", "email", "j•••@•••.nl"),
        ("IBAN NL91 ABNA 0417 1643 00", "iban", "NL••••••••••••••00"),
        ("woont op 1234 AB 12", "postcode", "12••AB"),
        ("geboren op 12-03-1978", "birthdate", "12••••••78"),
        ("Mevrouw Jansen belde", "name", "Ja••en"),
    ],
)
def test_what_is_found_is_shown_masked(text: str, category: str, masked: str) -> None:
    [finding] = screen(text)
    assert (finding.category, finding.masked) == (category, masked)


@pytest.mark.parametrize(
    "text",
    [
        "mevrouw A. belde de bedrijfsarts",  # anonymised the usual way
        "meneer X werkt 32 uur",
        "een bestand van 1200 MB",
        "2 AD's en 1 BA bespraken het",
        "123456789 is geen geldig BSN",  # fails the elfproef, no BSN word before it
        "sinds 1 maart 2024 ziek",  # a recent date is no date of birth
        "In 2023 en 2024 werkte ze 24 uur per week, 80-100%, WIA 35-80, artikel 7:658 BW.",
        "De werkgever belt 2 keer per week; ik tel 0,5 fte en 12 uur.",
        "Bel de arbodienst; sinds 01-03-2024 is hij ziek.",
    ],
)
def test_clean_details_are_left_alone(text: str) -> None:
    assert screen(text) == []


def test_mask_keeps_little() -> None:
    assert mask("123456789") == "12•••••89"
    assert mask("abc") == "a•••"
