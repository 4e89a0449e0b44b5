"""The settings loader: declared fields, every problem by dotted key, in declared order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ConfigError
from bot.settings import (
    Invalid,
    Problems,
    Scope,
    Settings,
    config_check,
    configured_room,
    read_settings,
    setting,
    text,
    whole_range,
)
from commands.buddy import check_config as buddy_check
from commands.casus import check_config as casus_check
from commands.introductions import check_config as introductions_check
from commands.questions import check_config as questions_check
from tests.fakes import make_config


def _even(value: Any, scope: Scope) -> int:
    if not isinstance(value, int) or value % 2:
        raise Invalid(f"{value!r} must be even")
    return value


def _not_below_low(value: Any, scope: Scope) -> int:
    if value < scope.values["low"]:
        raise Invalid("may not be below low")
    return int(value)


@dataclass(frozen=True)
class Sample(Settings):
    section = "sample"

    low: int = setting(2, read=_even)
    high: int = setting(4, read=_not_below_low, raw=4)
    room: str = setting("welcome", key="place.room", read=configured_room)
    size: int = setting(1, key="place.size", read=whole_range(1, 5))
    secret: str | None = setting(None, read=text(), env="SAMPLE_SECRET")
    fixed: str = "not configurable"


def test_defaults_when_nothing_is_written(tmp_path: Path) -> None:
    assert Sample.from_config(make_config(tmp_path)) == Sample()


def test_values_are_read_from_nested_keys(tmp_path: Path) -> None:
    config = make_config(tmp_path, sample={"low": 4, "high": 8, "place": {"room": "events", "size": 5}})
    assert Sample.from_config(config) == Sample(low=4, high=8, room="events", size=5)


def test_every_problem_by_dotted_key_in_declared_order(tmp_path: Path) -> None:
    config = make_config(tmp_path, sample={"low": 3, "high": 1, "place": {"room": "kantine", "size": 9}})
    with pytest.raises(ConfigError) as error:
        Sample.from_config(config)
    assert error.value.problems == [
        "sample.low: 3 must be even",
        "sample.high: may not be below low",
        "sample.place.room: 'kantine' is not a configured room (one of events, theme:buikpijndossiers, welcome)",
        "sample.place.size: must be a whole number from 1 to 5",
    ]


def test_a_raw_default_is_checked_against_the_fields_before_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        Sample.from_config(make_config(tmp_path, sample={"low": 6}))
    assert error.value.problems == ["sample.high: may not be below low"]


def test_a_nested_mapping_of_the_wrong_kind_is_reported_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        Sample.from_config(make_config(tmp_path, sample={"place": ["events"]}))
    assert error.value.problems == ["sample.place: must be a mapping"]


def test_the_environment_wins_over_the_file() -> None:
    problems = Problems("c.yaml: ")
    data = {"secret": 5}
    loaded = read_settings(Sample, data, "sample", problems, env={"SAMPLE_SECRET": "geheim"})
    assert loaded is not None and loaded.secret == "geheim"
    assert read_settings(Sample, data, "sample", problems, env={}) is None
    assert problems.items == ["c.yaml: sample.secret: 5 must be a non-empty text"]


def test_config_check_lists_problems_then_asks_the_follow_up(tmp_path: Path) -> None:
    seen: list[Sample] = []

    def follow_up(settings: Sample, config: object) -> list[str]:
        seen.append(settings)
        return ["follow-up"]

    check = config_check(Sample, then=follow_up)
    assert check(make_config(tmp_path, sample={"low": 3})) == ["sample.low: 3 must be even"]
    assert seen == []
    assert check(make_config(tmp_path)) == ["follow-up"] and seen == [Sample()]
    assert check.__doc__ is not None and "``sample:``" in check.__doc__


# The features' exact messages, as check-config prints them.


def test_buddy_messages(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        buddy={"offer_timeout_hours": 0, "checkin_weeks": [2, "zes"], "default_max_pairs": 9, "max_pairs_limit": 30},
    )
    assert buddy_check(config) == [
        "buddy.offer_timeout_hours: must be a whole number from 1 to 720",
        "buddy.checkin_weeks: must be a list of whole numbers of weeks from 1 to 52",
        "buddy.max_pairs_limit: must be a whole number from 1 to 20",
        "buddy.default_max_pairs: may not be larger than buddy.max_pairs_limit",
    ]


def test_questions_messages(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, questions={"invite_count": 0, "escalate_hours": 400, "invite_by_default": "ja", "max_length": 5}
    )
    assert questions_check(config) == [
        "questions.invite_count: must be a whole number from 1 to 20",
        "questions.escalate_hours: must be a whole number from 1 to 336",
        "questions.invite_by_default: must be true or false",
        "questions.max_length: must be a whole number from 50 to 4000",
    ]


def test_introductions_messages(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        introductions={"page_size": 0, "card_room": "hal", "spotlight": {"late_hours": -1, "cron": "elke maandag"}},
    )
    rooms = "events, theme:buikpijndossiers, welcome"
    assert introductions_check(config) == [
        "introductions.page_size: must be a whole number from 1 to 50",
        "introductions.spotlight.late_hours: must be a whole number from 0 to 168",
        "introductions.spotlight.cron: invalid cron expression 'elke maandag': expected 5 fields "
        "(minute hour day-of-month month day-of-week), got 2",
        f"introductions.card_room: 'hal' is not a configured room (one of {rooms})",
    ]


def test_casus_messages(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        casus={
            "library": 5,
            "step_days": [2, 8],
            "invite_after_hours": 0,
            "invite_per_profession": 21,
            "schedules": {"buikpijndossiers": {"cron": "30 9 * * tue", "every_weeks": 13}, "onbekend": "x"},
            "enabled": "ja",
        },
    )
    assert casus_check(config) == [
        "casus.library: must be a folder path",
        "casus.close_days: must be a number of days after step 3 (8)",
        "casus.invite_after_hours: must be a number of hours from 1 to 336",
        "casus.invite_per_profession: must be a whole number from 0 to 20",
        "casus.schedules.buikpijndossiers.every_weeks: must be a whole number from 1 to 12",
        "casus.schedules.onbekend: 'onbekend' is not a configured theme (one of buikpijndossiers)",
        "casus.enabled: must be true or false",
    ]
