"""The words members type to the buddy commands, read from the catalogues.

Shared words (yes, no, stop; the option names profession, experience, region, day and
theme) are the core's vocabulary (``core.words``, ``core.options``); what only the buddy
commands read is ``buddy.words``. Every language's words are accepted, so a Dutch member
typing ``topic=`` is understood. What a member is *shown* is ordinary catalogue text.
"""

from __future__ import annotations

from bot.i18n import Catalogue, normalise_word

#: ``!buddy zoek`` options by the catalogue list naming them, to the criterion they set.
_FIND_LISTS = {
    "core.options.profession": "professions",
    "core.options.experience": "experience",
    "core.options.region": "regions",
    "core.options.day": "days",
    "core.options.theme": "themes",
    "buddy.words.topic": "topic",
    "buddy.words.cross": "cross",
    "buddy.words.again": "again",
}

# ``!buddy pauze tot 1 mei`` reads the date after these words (a prefix, not an answer).
PAUSE_UNTIL = ("tot en met ", "tot ", "until ", "till ")


def find_options(catalogue: Catalogue) -> dict[str, str]:
    """Every name a member may type for a ``!buddy zoek`` option, to its criterion."""
    return {word: target for key, target in _FIND_LISTS.items() for word in catalogue.word_list(key)}


def max_options(catalogue: Catalogue) -> frozenset[str]:
    """``!buddy beschikbaar ja max=2``: the one option, under its names."""
    return catalogue.word_list("buddy.words.max")


def is_pause_off(catalogue: Catalogue, text: str) -> bool:
    """``!buddy pauze uit``: an off, no or stop word ends a pause."""
    if normalise_word(text) in catalogue.word_list("buddy.words.pause_off"):
        return True
    return any(catalogue.is_word(name, text) for name in ("off", "no", "stop"))


def checkin_answer(catalogue: Catalogue, text: str) -> str | None:
    """``yes``, ``not_yet`` or ``stop`` for an answer to "have you met yet?"."""
    word = normalise_word(text)
    if word in catalogue.word_list("buddy.words.not_yet") or catalogue.is_word("no", word):
        return "not_yet"
    if word in catalogue.word_list("buddy.words.done") or catalogue.is_word("stop", word):
        return "stop"
    if catalogue.is_word("yes", word):
        return "yes"
    return None
