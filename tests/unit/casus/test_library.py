"""The starter library and the loader: every case complete in Dutch and English, the
employee's question last, and clear errors naming the file, the case and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_config
from bot.content import Professions
from bot.errors import ConfigError
from commands.casus import check_config
from commands.casus.library import EMPLOYEE_WORDS, LANGUAGES, STEPS, load_library
from tests.fakes import make_config

PROJECT = Path(__file__).resolve().parents[3]
EXAMPLE = load_config(PROJECT / "config" / "example.yaml")
PROFESSIONS = [p.key for p in Professions.load(EXAMPLE.community.professions_file).items]
LIBRARY = load_library(PROJECT / "config" / "casus", [t.key for t in EXAMPLE.themes], PROFESSIONS)


def test_the_starter_library_covers_every_theme_with_at_least_twelve_cases() -> None:
    assert len(LIBRARY) >= 12 and LIBRARY.skipped == []
    assert LIBRARY.themes() == {t.key for t in EXAMPLE.themes}


@pytest.mark.parametrize("case_id", sorted(LIBRARY.cases))
def test_every_case_has_three_steps_in_both_languages_ending_with_the_employee(case_id: str) -> None:
    case = LIBRARY.cases[case_id]
    for language in LANGUAGES:
        assert case.title_in(language) and len(case.text_in(language)) > 200
        for step in range(1, len(STEPS) + 1):
            assert case.questions(step, language), (case_id, step, language)
            assert all(q.strip() for q in case.questions(step, language))
        last = case.questions(3, language)[-1].lower()
        assert any(word in last for word in EMPLOYEE_WORDS[language]), (case_id, language, last)
    assert case.professions and set(case.professions) <= set(PROFESSIONS)
    assert case.title["nl"] != case.title["en"] and case.text["nl"] != case.text["en"]


def test_the_shipped_themes_cover_the_topics_the_research_asked_for() -> None:
    tags = {tag for case in LIBRARY.cases.values() for tag in case.tags}
    for wanted in (
        "kanker",
        "autisme",
        "burn-out",
        "fml",
        "wia",
        "kleine-werkgever",
        "demedicaliseren",
        "arbeidsconflict",
        "ai",
        "jobcoaching",
        "verschil-van-inzicht",
        "langdurig",
    ):
        assert wanted in tags, wanted


def test_errors_name_the_file_the_case_and_the_field(tmp_path: Path) -> None:
    (tmp_path / "kapot.yaml").write_text(
        """
cases:
  - id: zonder-engels
    theme: buikpijndossiers
    title: {nl: Alleen Nederlands}
    text: {nl: Tekst, en: Text}
    professions: [tandarts]
    steps:
      beeldvorming: [{nl: "Wat zie je?", en: "What do you see?"}]
      oordeelsvorming: [{nl: "Hoe weeg je het?", en: "How do you weigh it?"}]
      besluitvorming: [{nl: "Wat doe je?", en: "What do you do?"}]
  - id: zonder-werknemer
    theme: buikpijndossiers
    title: {nl: Titel, en: Title}
    text: {nl: Tekst, en: Text}
    steps:
      beeldvorming: [{nl: "Wat zie je?", en: "What do you see?"}]
""",
        encoding="utf-8",
    )
    (tmp_path / "onleesbaar.yaml").write_text("cases: [\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_library(tmp_path, ["buikpijndossiers"], PROFESSIONS)
    problems = "\n".join(caught.value.problems)
    assert "kapot.yaml: cases[0] (case 'zonder-engels').title.en: is missing or empty" in problems
    assert "(case 'zonder-engels').professions: 'tandarts' is not a profession" in problems
    assert "(case 'zonder-engels').steps.besluitvorming[-1].nl: the last question must ask" in problems
    assert "(case 'zonder-werknemer').steps.oordeelsvorming: must be a non-empty list" in problems
    assert "onleesbaar.yaml: cannot be read as YAML" in problems


def test_check_config_reads_the_library_and_the_section(tmp_path: Path) -> None:
    assert check_config(make_config(tmp_path)) == []  # type: ignore[arg-type]
    broken = tmp_path / "casussen"
    broken.mkdir()
    (broken / "a.yaml").write_text("cases:\n  - id: X\n", encoding="utf-8")
    config = make_config(
        tmp_path,
        casus={
            "library": str(broken),
            "schedules": {"onbekend": {"cron": "30 9 * * tue"}},
            "step_days": [4, 2],
        },
    )  # type: ignore[arg-type]
    problems = check_config(config)
    assert any(p.startswith("casus.schedules.onbekend:") for p in problems)
    assert any(p.startswith("casus.step_days:") for p in problems)
    config = make_config(tmp_path, casus={"library": str(broken)})  # type: ignore[arg-type]
    assert any("a.yaml: cases[0].id" in p for p in check_config(config))
