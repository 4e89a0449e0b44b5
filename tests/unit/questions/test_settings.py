"""The ``questions:`` config section."""

from __future__ import annotations

from pathlib import Path

from commands.questions import check_config
from commands.questions.settings import QuestionSettings
from tests.fakes import make_config


def test_defaults_and_problems_by_dotted_key(tmp_path: Path) -> None:
    settings = QuestionSettings.from_config(make_config(tmp_path))
    assert (settings.room, settings.invite_count, settings.escalate_after.total_seconds()) == ("questions", 3, 48 * 3600)
    problems = check_config(
        make_config(tmp_path, questions={"room": "nergens", "invite_count": 0, "invite_by_default": "ja"})
    )
    assert any(p.startswith("questions.room: 'nergens'") for p in problems)
    assert any(p.startswith("questions.invite_count:") for p in problems)
    assert any(p.startswith("questions.invite_by_default:") for p in problems)
    assert check_config(make_config(tmp_path, questions={"room": "welcome", "escalate_hours": 24})) == []


def test_max_open_defaults_to_three_and_is_checked(tmp_path: Path) -> None:
    assert QuestionSettings.from_config(make_config(tmp_path)).max_open == 3
    assert QuestionSettings.from_config(make_config(tmp_path, questions={"max_open": 5})).max_open == 5
    assert any(p.startswith("questions.max_open:") for p in check_config(make_config(tmp_path, questions={"max_open": 0})))
