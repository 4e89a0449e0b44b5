"""Every text exists in Dutch and English with the same placeholders, and every key the
code asks for is there.

Commands are checked through the registry the app really builds, so a command declared
in any way is covered. Error and reply keys are passed as literals all over the code,
so they are found by a scan of the source; each scan fails when it finds nothing, so a
scan that stopped matching cannot pass by checking nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.app import App, locale_directories
from bot.i18n import WORD_SETS, Catalogue, CatalogueError, placeholders

CATALOGUE = Catalogue.load(locale_directories())
PROJECT = Path(__file__).resolve().parents[2]
LANGUAGES = ("nl", "en")
SOURCES = sorted([*PROJECT.glob("bot/**/*.py"), *PROJECT.glob("commands/**/*.py")])

# The errors a member sees as the catalogue text of their first argument.
_ERROR_CALL = re.compile(
    r"\b(?:UserError|BadArgument|MissingArgument|CheckFailure|ConversationError)\(\s*(f?)\"([^\"]*)\""
)
# The keys of CommandNotFound, which builds its own.
_ERROR_INIT = re.compile(r"super\(\)\.__init__\(\s*(f?)\"([^\"]*)\"")
_REPLY_CALL = re.compile(r"\.(?:reply|send_dm)\(\s*(f?)\"([^\"]*)\"")
_KEY = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)+")


def _in_both(key: str) -> bool:
    return all(key in CATALOGUE.keys(language) for language in LANGUAGES)


def _matches_some_key(template: str) -> bool:
    """An f-string key: some key in both languages fits it, each ``{…}`` one key segment."""
    parts = re.split(r"\{[^}]*\}", template)
    pattern = re.compile("[a-z0-9_]+".join(re.escape(part) for part in parts))
    return any(pattern.fullmatch(key) and _in_both(key) for key in CATALOGUE.keys("nl"))


def _literal_keys(pattern: re.Pattern[str], paths: list[Path]) -> list[tuple[Path, bool, str]]:
    """(file, is an f-string, key) for every match of ``pattern`` in ``paths``."""
    return [
        (path, bool(match.group(1)), match.group(2))
        for path in paths
        for match in pattern.finditer(path.read_text(encoding="utf-8"))
    ]


def _command_not_found_keys() -> list[tuple[Path, bool, str]]:
    path = PROJECT / "bot" / "errors.py"
    source = path.read_text(encoding="utf-8")
    body = source.split("class CommandNotFound(", 1)[1].split("\nclass ", 1)[0]
    return [(path, bool(m.group(1)), m.group(2)) for m in _ERROR_INIT.finditer(body)]


def test_languages_have_identical_keys() -> None:
    nl, en = CATALOGUE.keys("nl"), CATALOGUE.keys("en")
    assert nl, "no catalogue keys loaded"
    assert nl - en == set(), f"missing in en: {sorted(nl - en)}"
    assert en - nl == set(), f"missing in nl: {sorted(en - nl)}"


def test_placeholders_match() -> None:
    # One test over every key (not one per key): the differences are listed together.
    keys = sorted(CATALOGUE.keys("nl") & CATALOGUE.keys("en"))
    assert len(keys) > 100, f"only {len(keys)} keys loaded"
    differ = [
        key
        for key in keys
        if placeholders(CATALOGUE.template("nl", key)) != placeholders(CATALOGUE.template("en", key))
    ]
    assert differ == [], f"placeholders differ between nl and en: {differ}"


async def test_every_registered_command_has_its_help_texts(app: App) -> None:
    # ``app`` is the one tests/conftest.py builds with build_app: the registry as it runs.
    # A command without a summary would show its raw key in !help; one whose parameters
    # have no member-facing name (core.param.<name>) needs a usage line of its own, or
    # its code names would be shown.
    registry = app.services.registry
    assert {f.name for f in registry.features} >= {"core", "privacy", "introductions", "events"}
    assert len(registry.commands) >= 40, [c.name for c in registry.commands]
    problems: list[str] = []
    for cmd in registry.commands:
        if not _in_both(f"{cmd.key}.summary"):
            problems.append(f"{cmd.name}: no {cmd.key}.summary")
        for optional in (f"{cmd.key}.usage", f"{cmd.key}.details"):
            if any(optional in CATALOGUE.keys(language) for language in LANGUAGES) and not _in_both(optional):
                problems.append(f"{cmd.name}: {optional} in one language only")
        if not _in_both(f"{cmd.key}.usage"):
            unlabelled = [p.name for p in cmd.params if not _in_both(f"core.param.{p.name}")]
            if unlabelled:
                problems.append(f"{cmd.name}: no usage text and no core.param label for {unlabelled}")
    # !help groups the visible commands under their feature's name.
    for feature in {cmd.feature.name for cmd in registry.commands if not cmd.hidden}:
        if not _in_both(f"core.feature.{feature}"):
            problems.append(f"feature {feature}: no core.feature.{feature}")
    assert problems == []


def test_every_error_key_a_member_can_see_exists() -> None:
    found = _literal_keys(_ERROR_CALL, SOURCES) + _command_not_found_keys()
    assert len(found) >= 50, f"the scan found only {len(found)} error keys: has the way errors are raised changed?"
    assert {"core.error.unknown_command", "core.error.missing_argument"} <= {key for _, _, key in found}
    missing = [
        f"{path.relative_to(PROJECT)}: {key}"
        for path, dynamic, key in found
        if not (_matches_some_key(key) if dynamic else _in_both(key))
    ]
    assert missing == []


def test_replies_name_catalogue_keys() -> None:
    # Replies take catalogue keys; a literal sentence passed to reply() is a bug.
    found = _literal_keys(_REPLY_CALL, SOURCES)
    assert len(found) >= 50, f"the scan found only {len(found)} replies: has the way replies are sent changed?"
    wrong = [
        f"{path.relative_to(PROJECT)}: {key!r}"
        for path, dynamic, key in found
        if not (_matches_some_key(key) if dynamic else _KEY.fullmatch(key) and _in_both(key))
    ]
    assert wrong == []


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
