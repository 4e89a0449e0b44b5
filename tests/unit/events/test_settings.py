"""The ``events:`` config section: defaults, and every problem named by its dotted key."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from bot.errors import ConfigError
from commands.events import check_config
from commands.events.settings import EventSettings
from tests.fakes import make_config


def test_defaults(tmp_path: Path) -> None:
    settings = EventSettings.from_config(make_config(tmp_path))
    assert [o.label for o in settings.reminders] == ["7d", "1d", "2h"]
    assert settings.room == "events" and settings.evaluation_time == time(10, 0)


def test_a_minimal_config_without_an_events_room_still_loads(tmp_path: Path) -> None:
    config = make_config(tmp_path, rooms={"welcome": "#welkom:localhost"})
    assert EventSettings.from_config(config).room == "events"
    assert check_config(config) == []


def test_configured_values(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        events={
            "organisers": ["@Org:localhost"],
            "reminders": ["2h", "3d", "30m"],
            "evaluation": {"days_after": 2, "time": "09:15"},
            "planning": {"good_months": [4, 10], "max_hours": 3, "latest_start": "11:00"},
        },
    )
    settings = EventSettings.from_config(config)
    assert settings.organisers == ("@org:localhost",)
    assert [o.delta for o in settings.reminders] == [
        timedelta(days=3),
        timedelta(hours=2),
        timedelta(minutes=30),
    ]
    assert settings.evaluation_days_after == 2 and settings.latest_start == time(11, 0)


def test_problems_name_their_keys(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        events={
            "room": "agenda",
            "organisers": ["bob"],
            "reminders": ["7d", "7d", "soon"],
            "evaluation": {"days_after": 99, "time": "late"},
            "planning": {"good_months": [13], "max_hours": 0, "latest_start": "noon"},
        },
    )
    with pytest.raises(ConfigError) as error:
        EventSettings.from_config(config)
    keys = [problem.split(":")[0] for problem in error.value.problems]
    assert keys == [
        "events.room",
        "events.organisers",
        "events.reminders[1]",
        "events.reminders[2]",
        "events.evaluation.days_after",
        "events.evaluation.time",
        "events.planning.good_months",
        "events.planning.max_hours",
        "events.planning.latest_start",
    ]
    assert len(check_config(config)) == 9
