"""Config errors name the file, the dotted key and what is wrong; every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.config import load_config, parse_config
from bot.errors import ConfigError

PROJECT = Path(__file__).resolve().parents[2]


def test_example_config_is_valid() -> None:
    config = load_config(PROJECT / "config" / "example.yaml", env={})
    assert config.community.language == "nl"
    assert "welcome" in config.rooms and config.themes


def test_every_problem_is_reported(tmp_path: Path) -> None:
    raw = {
        "matrix": {"homeserver": "ftp://x", "user_id": "kennisbrug"},
        "community": {"language": "fr", "timezone": "Mars/Olympus", "admins": ["alice"]},
        "rooms": {"welcome": "#welkom:localhost", "events": "#bijeenkomsten"},
        "themes": [{"key": "X Y", "room": "#a:b"}],
        "nudges": {"quiet_hours": "laat"},
    }
    with pytest.raises(ConfigError) as error:
        parse_config(raw, tmp_path / "bot.yaml", env={})
    text = "\n".join(error.value.problems)
    for expected in [
        "bot.yaml: matrix.homeserver:",
        "matrix.user_id:",
        "matrix.password:",
        "community.language:",
        "community.timezone:",
        "community.admins[0]:",
        "rooms.events: '#bijeenkomsten' is not a room alias or id",
        "themes[0].key:",
        "nudges.quiet_hours:",
    ]:
        assert expected in text, expected


def test_secrets_from_environment(tmp_path: Path) -> None:
    raw = yaml.safe_load((PROJECT / "config" / "example.yaml").read_text())
    raw["matrix"].pop("password", None)
    config = parse_config(raw, tmp_path / "c.yaml", env={"KENNISBRUG_MATRIX_PASSWORD": "geheim"})
    assert config.matrix.password == "geheim"


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    raw = {
        "matrix": {"homeserver": "http://127.0.0.1:8008", "user_id": "@kb:localhost", "password": "x"},
        "community": {},
        "rooms": {"welcome": "#welkom:localhost"},
    }
    config = parse_config(raw, tmp_path / "c.yaml", env={})
    assert config.nudges.weekly_budget == 3 and config.community.command_prefix == "!"


def test_unreadable_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("matrix: [unclosed\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "is not valid YAML (line" in error.value.problems[0]


@pytest.mark.parametrize("value", [0, -1, 65, 2.5, "acht", True])
def test_outbox_concurrency_must_be_a_whole_number_from_1_to_64(tmp_path: Path, value: object) -> None:
    raw = yaml.safe_load((PROJECT / "config" / "example.yaml").read_text())
    raw["matrix"]["outbox_concurrency"] = value
    with pytest.raises(ConfigError) as error:
        parse_config(raw, tmp_path / "c.yaml", env={})
    assert any("matrix.outbox_concurrency:" in problem for problem in error.value.problems)


def test_outbox_concurrency_default_and_setting(tmp_path: Path) -> None:
    raw = yaml.safe_load((PROJECT / "config" / "example.yaml").read_text())
    assert parse_config(raw, tmp_path / "c.yaml", env={}).matrix.outbox_concurrency == 32
    raw["matrix"]["outbox_concurrency"] = 1
    assert parse_config(raw, tmp_path / "c.yaml", env={}).matrix.outbox_concurrency == 1


def test_core_messages_in_order(tmp_path: Path) -> None:
    raw = yaml.safe_load((PROJECT / "config" / "example.yaml").read_text())
    raw["database"] = {"url": "mysql://db"}
    raw["matrix"].update({"password": None, "store_key": "kort", "trust": "niemand", "timeline_limit": 5})
    raw["community"].update({"command_prefix": "!!!!", "moderators": ["@mod:localhost", "mod"]})
    raw["nudges"] = {"quiet_hours": "22:00-25:00", "quiet_weekends": "ja"}
    raw["flood"] = {"seconds_per_command": 0}
    with pytest.raises(ConfigError) as error:
        parse_config(raw, tmp_path / "c.yaml", env={})
    assert [problem.split(": ", 1)[1] for problem in error.value.problems] == [
        "database.url: 'mysql://db' must start with sqlite+aiosqlite:// or postgresql+asyncpg://",
        "matrix.password: give a password (or access_token), in the file or in $KENNISBRUG_MATRIX_PASSWORD",
        "matrix.store_key: must be at least 16 characters (a long random text)",
        "matrix.trust: 'niemand' must be one of tofu, all",
        "matrix.timeline_limit: 5 must be a whole number of at least 10",
        "community.command_prefix: '!!!!' must be one to three punctuation characters",
        "community.moderators[1]: 'mod' is not a Matrix user id like @name:server",
        "nudges.quiet_hours: '25:00' must be a time like 20:00",
        "nudges.quiet_weekends: 'ja' must be true or false",
        "flood.seconds_per_command: must be more than 0",
    ]


def test_secrets_from_the_environment_are_checked_too(tmp_path: Path) -> None:
    raw = yaml.safe_load((PROJECT / "config" / "example.yaml").read_text())
    with pytest.raises(ConfigError) as error:
        parse_config(raw, tmp_path / "c.yaml", env={"KENNISBRUG_MATRIX_STORE_KEY": "kort"})
    assert [problem.split(": ", 1)[1] for problem in error.value.problems] == [
        "matrix.store_key: must be at least 16 characters (a long random text)"
    ]
    key = "k" * 16
    config = parse_config(raw, tmp_path / "c.yaml", env={"KENNISBRUG_MATRIX_STORE_KEY": key})
    assert config.matrix.store_key == key
    assert config.matrix.store_path == Path("data/kennisbrug-crypto")
