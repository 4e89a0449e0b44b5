"""Every text exists in Dutch and English with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.app import locale_directories
from bot.i18n import WORD_SETS, Catalogue, CatalogueError, placeholders

CATALOGUE = Catalogue.load(locale_directories())
PROJECT = Path(__file__).resolve().parents[2]


def test_languages_have_identical_keys() -> None:
    nl, en = CATALOGUE.keys("nl"), CATALOGUE.keys("en")
    assert nl - en == set(), f"missing in en: {sorted(nl - en)}"
    assert en - nl == set(), f"missing in nl: {sorted(en - nl)}"


@pytest.mark.parametrize("key", sorted(CATALOGUE.keys("nl")))
def test_placeholders_match(key: str) -> None:
    assert placeholders(CATALOGUE.template("nl", key)) == placeholders(CATALOGUE.template("en", key))


def test_every_command_has_a_summary_in_both_languages(tmp_path: Path) -> None:
    # Structural: a command without help text would show its raw key in !help.
    for path in PROJECT.glob("commands/*/feature*.py"):
        for name in re.findall(r'@command\(\s*"([^"]+)"', path.read_text()):
            key = "help." + name.replace(" ", "_").replace("-", "_") + ".summary"
            assert key in CATALOGUE.keys("nl") and key in CATALOGUE.keys("en"), key


def test_no_user_facing_literals_in_replies() -> None:
    # Replies take catalogue keys; a literal sentence passed to reply() is a bug.
    for path in [*PROJECT.glob("bot/**/*.py"), *PROJECT.glob("commands/**/*.py")]:
        text = path.read_text()
        for match in re.finditer(r"\.(?:reply|send_dm)\(\s*f?\"([^\"]*)\"", text):
            assert re.fullmatch(r"[a-z0-9_.]+", match.group(1)), f"{path}: {match.group(1)!r}"


def test_duplicate_key_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "nl.yaml").write_text("x:\n  y: een\n")
    (tmp_path / "b" / "nl.yaml").write_text("x:\n  y: twee\n")
    with pytest.raises(CatalogueError):
        Catalogue.load([tmp_path / "a", tmp_path / "b"])


@pytest.mark.parametrize("language", ["nl", "en"])
def test_every_word_set_exists_in_each_language(language: str) -> None:
    for name in WORD_SETS:
        assert CATALOGUE.words(name, language), f"core.words.{name} is empty in {language}"


def test_no_word_means_two_things() -> None:
    # Across languages too: a member may answer in either. "ok" is yes and keep on
    # purpose (keep wins where a current answer is shown; see bot/conversations.py).
    words = {name: CATALOGUE.words(name) for name in WORD_SETS}
    allowed = {frozenset({"yes", "keep"}): {"ok", "oké", "okay"}}
    for first in WORD_SETS:
        for second in WORD_SETS:
            if first >= second:
                continue
            shared = words[first] & words[second]
            assert shared <= allowed.get(frozenset({first, second}), set()), (first, second, shared)


def test_yes_and_no_in_either_language() -> None:
    assert [CATALOGUE.yes_no(w) for w in ("ja", "Yes!", "nee", "no", "misschien")] == [
        True, True, False, False, None,
    ]
    assert [CATALOGUE.switch(w) for w in ("aan", "on", "uit", "off", "ja")] == [True, True, False, False, True]
    # "aan" switches a setting on but is no answer to a yes/no question.
    assert CATALOGUE.yes_no("aan") is None


def test_a_list_in_a_sentence() -> None:
    assert CATALOGUE.series("nl", ["a", "b", "c"]) == "a, b of c"
    assert CATALOGUE.series("en", ["a", "b"], "and") == "a and b"
    assert CATALOGUE.series("en", ["a"]) == "a"


def test_an_unquoted_yes_in_a_word_list_is_refused(tmp_path: Path) -> None:
    # YAML reads a bare yes as True: the word would silently become "True".
    (tmp_path / "nl.yaml").write_text("core:\n  words:\n    \"yes\": [ja, yes]\n")
    with pytest.raises(CatalogueError):
        Catalogue.load([tmp_path])
