"""The command line: check-config exit codes and messages, migrate."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.cli import main

PROJECT = Path(__file__).resolve().parents[2]


def test_check_config_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(PROJECT / "config" / "example.yaml")]) == 0
    assert "OK" in capsys.readouterr().out


def test_check_config_explains_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"matrix": {"homeserver": "x"}, "rooms": {"events": "#bijeenkomsten"}}))
    assert main(["check-config", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "rooms.events: '#bijeenkomsten' is not a room alias or id" in err
    assert "matrix.user_id: is required" in err
    assert "community: section is required" in err


def test_check_config_refuses_trust_verified_in_one_line_naming_tofu(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = yaml.safe_load((PROJECT / "config" / "example.yaml").read_text())
    raw["matrix"]["trust"] = "verified"
    path = tmp_path / "verified.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["check-config", "--config", str(path)]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if "matrix.trust" in line]
    assert len(lines) == 1 and "'verified' is no longer offered" in lines[0] and "use tofu" in lines[0]


def test_migrate_creates_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = yaml.safe_load((PROJECT / "config" / "example.yaml").read_text())
    raw["database"]["url"] = f"sqlite+aiosqlite:///{tmp_path / 'k.db'}"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["migrate", "--config", str(path)]) == 0
    assert "empty ->" in capsys.readouterr().out
    assert main(["migrate", "--config", str(path)]) == 0
    assert "empty" not in capsys.readouterr().out


def test_help_documents_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for word in ("run", "demo", "check-config", "migrate", "KENNISBRUG_MATRIX_PASSWORD"):
        assert word in out
    # Each command once, and no second heading for the list under "commands:".
    assert out.count(" check-config") == 1 and "\n  COMMAND\n" not in out
    listed = out.split("commands:\n", 1)[1]
    assert listed.lstrip(" ").startswith("run ")


def test_the_database_and_crypto_store_are_for_the_bot_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os
    import stat

    raw = yaml.safe_load((PROJECT / "config" / "example.yaml").read_text())
    data = tmp_path / "data"
    raw["database"]["url"] = f"sqlite+aiosqlite:///{data / 'k.db'}"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    # An earlier version left a crypto store readable for everyone.
    store = data / "k-crypto"
    store.mkdir(parents=True, mode=0o755)
    (store / "device.db").write_text("keys")
    (store / "device.db").chmod(0o644)
    previous = os.umask(0o022)  # a shell's usual umask
    try:
        assert main(["migrate", "--config", str(path)]) == 0
    finally:
        os.umask(previous)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(data / "k.db") == 0o600
    assert mode(store) == 0o700 and mode(store / "device.db") == 0o600


def test_check_config_notes_a_missing_privacy_contact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = yaml.safe_load((PROJECT / "config" / "example.yaml").read_text())
    assert raw["community"]["privacy_contact"]
    main(["check-config", "--config", str(PROJECT / "config" / "example.yaml")])
    assert "privacy_contact" not in capsys.readouterr().out
    del raw["community"]["privacy_contact"]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["check-config", "--config", str(path)]) == 0
    assert "note: community.privacy_contact is not set" in capsys.readouterr().out
