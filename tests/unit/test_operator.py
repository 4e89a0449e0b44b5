"""The operator's command line: help, shipped defaults, init, backup and restore, and the
container and systemd recipes' command lines run as plain processes."""

from __future__ import annotations

import asyncio
import configparser
import io
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from bot.backup import BackupError, backup, restore
from bot.cli import build_parser, main
from bot.clock import SystemClock
from bot.config import load_config
from bot.health import Heartbeat
from bot.install_paths import bundled, defaults_dir, example_config
from bot.storage import Database
from bot.storage.lock import InstanceLock
from bot.storage.migrate import head_revisions, migrate

PROJECT = Path(__file__).resolve().parents[2]
VERBS = ("run", "demo", "check-config", "migrate", "health", "init", "backup", "restore", "copy-database")


def _config_file(tmp_path: Path, **community: object) -> Path:
    """The example config, copied out of the project, on a database in ``tmp_path``."""
    raw = yaml.safe_load(example_config().read_text(encoding="utf-8"))
    raw["database"]["url"] = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'kennisbrug.db'}"
    raw["community"].update(community)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "kennisbrug.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_help_lists_every_command_once(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines() if line.startswith("    ")]
    listed = [words[0] for words in lines if words]
    for verb in VERBS:
        assert listed.count(verb) == 1, (verb, out)


def test_the_defaults_resolve_from_a_config_outside_the_project(tmp_path: Path) -> None:
    assert (defaults_dir() / "professions.yaml").is_file()
    assert bundled("config/casus") == defaults_dir() / "casus"
    config = load_config(_config_file(tmp_path, professions_file="config/professions.yaml"))
    # config/professions.yaml and config/casus (the example's), relative: not next to the
    # copy, so the shipped ones are used.
    assert config.community.professions_file == defaults_dir() / "professions.yaml"
    from commands.casus.settings import CasusSettings

    settings = CasusSettings.from_config(config)
    assert settings.library == defaults_dir() / "casus"
    assert any(settings.library.glob("*.yaml"))


def test_a_config_next_to_its_own_content_uses_that(tmp_path: Path) -> None:
    own = tmp_path / "config"
    own.mkdir()
    (own / "professions.yaml").write_text((defaults_dir() / "professions.yaml").read_text(encoding="utf-8"))
    config = load_config(_config_file(tmp_path, professions_file="config/professions.yaml"))
    assert config.community.professions_file == tmp_path / "config" / "professions.yaml"


# init


def test_init_with_flags_writes_a_config_that_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KENNISBRUG_MATRIX_PASSWORD", "s3cret-from-env")
    path = tmp_path / "etc" / "kennisbrug.yaml"
    argv = [
        "init", "--non-interactive", "--config", str(path),
        "--homeserver", "https://matrix.example.org/", "--user-id", "@kennisbrug:example.org",
        "--admin", "@alice:example.org,@bob:example.org", "--rooms", "create",
        "--database-url", f"sqlite+aiosqlite:///{tmp_path / 'k.db'}",
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"{path}: OK" in out and "KENNISBRUG_MATRIX_PASSWORD" in out
    text = path.read_text(encoding="utf-8")
    assert "s3cret" not in text and "# Admins by user id" in text
    assert os.stat(path).st_mode & 0o077 == 0
    config = load_config(path)
    assert config.matrix.homeserver == "https://matrix.example.org"
    assert config.community.admins == ("@alice:example.org", "@bob:example.org")
    assert config.community.create_rooms is True
    assert config.rooms["welcome"] == "#welkom:example.org"
    assert {t.key for t in config.themes} >= {"buikpijndossiers", "kanker-en-werk"}
    assert all(t.room.endswith(":example.org") for t in config.themes)
    # A second init does not overwrite the file.
    assert main(argv) == 2
    assert "exists" in capsys.readouterr().err


def test_init_with_existing_rooms_and_a_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "k.yaml"
    argv = [
        "init", "--non-interactive", "--config", str(path),
        "--homeserver", "http://127.0.0.1:8008", "--user-id", "@bot:localhost",
        "--login", "token", "--secret", "syt_abcdef", "--admin", "@alice:localhost",
        "--rooms", "existing", "--room", "welcome=!abc:localhost", "--room", "events=#ev:localhost",
        "--room", "questions=#q:localhost", "--theme", "neurodiversiteit=#nd:localhost",
        "--database-url", f"sqlite+aiosqlite:///{tmp_path / 'k.db'}",
    ]  # fmt: skip
    assert main(argv) == 0
    config = load_config(path, env={})
    assert config.matrix.access_token == "syt_abcdef" and config.matrix.password is None
    assert config.community.create_rooms is False and config.community.space is None
    assert config.rooms == {"welcome": "!abc:localhost", "events": "#ev:localhost", "questions": "#q:localhost"}
    assert [(t.key, t.room, t.name["en"]) for t in config.themes] == [
        ("neurodiversiteit", "#nd:localhost", "Neurodiversity")
    ]


def test_init_refuses_missing_or_bad_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["init", "--non-interactive", "--config", str(tmp_path / "k.yaml")]
    assert main([*base, "--homeserver", "https://m.example.org", "--admin", "@a:example.org"]) == 2
    assert "--user-id is required" in capsys.readouterr().err
    bad_admin = [*base, "--homeserver", "https://m.example.org", "--user-id", "@b:example.org", "--admin", "alice"]
    assert main(bad_admin) == 2
    assert "'alice' must look like @alice:example.org" in capsys.readouterr().err
    missing_room = [
        *base, "--homeserver", "https://m.example.org", "--user-id", "@b:example.org",
        "--admin", "@a:example.org", "--rooms", "existing", "--room", "welcome=#w:example.org",
    ]  # fmt: skip
    assert main(missing_room) == 2
    assert "events, questions" in capsys.readouterr().err
    assert not (tmp_path / "k.yaml").exists()


def test_init_asks_on_stdin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KENNISBRUG_MATRIX_ACCESS_TOKEN", "syt_from_env")
    answers = "\n".join(
        [
            "http://127.0.0.1:8008",  # homeserver
            "not-a-user",  # refused, asked again
            "@kennisbrug:localhost",
            "t",  # token
            "existing",
            "#welkom:localhost",
            "#bijeenkomsten:localhost",
            "!vragen:localhost",
            "kanker-en-werk=#kanker:localhost, demedicaliseren=#demed:localhost",
            "@alice:localhost",
            f"sqlite+aiosqlite:///{tmp_path / 'k.db'}",
        ]
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO(answers + "\n"))
    path = tmp_path / "k.yaml"
    assert main(["init", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "must look like @kennisbrug:example.org" in out  # the refused answer was explained
    assert f"{path}: OK" in out and "KENNISBRUG_MATRIX_ACCESS_TOKEN" in out
    config = load_config(path)
    assert config.matrix.user_id == "@kennisbrug:localhost" and config.matrix.access_token == "syt_from_env"
    assert config.rooms["questions"] == "!vragen:localhost"
    assert [t.key for t in config.themes] == ["kanker-en-werk", "demedicaliseren"]


def test_init_stops_at_the_end_of_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("http://127.0.0.1:8008\n"))
    assert main(["init", "--config", str(tmp_path / "k.yaml")]) == 2
    assert "end of input" in capsys.readouterr().err


# backup and restore


def _fake_store(store: Path) -> None:
    """A crypto store as nio keeps it: one SQLite file per device."""
    store.mkdir(parents=True)
    conn = sqlite3.connect(store / "@kennisbrug:localhost_DEVICE.db")
    conn.execute("CREATE TABLE olm (account TEXT)")
    conn.execute("INSERT INTO olm VALUES ('pickled account')")
    conn.commit()
    conn.close()


async def test_backup_while_writing_and_restore_elsewhere(tmp_path: Path) -> None:
    config = load_config(_config_file(tmp_path / "live"))
    db = Database(config.database.url)
    await migrate(db)
    lock = InstanceLock(db)
    await lock.acquire()  # as a running bot holds it
    _fake_store(config.matrix.store_path)
    db_file = Path(db.url.split(":///", 1)[1])
    stop = threading.Event()

    def keep_writing() -> None:
        conn = sqlite3.connect(db_file, timeout=10)
        n = 0
        while not stop.is_set():
            n += 1
            conn.execute("INSERT OR REPLACE INTO core_state (key, value) VALUES (?, ?)", (f"k{n % 50}", "x" * 500))
            conn.commit()
        conn.close()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        manifest = await backup(config, tmp_path / "backup")
    finally:
        stop.set()
        writer.join()
    data = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert data["schema_revision"] == "+".join(sorted(head_revisions())) == manifest.schema_revision
    assert set(data["files"]) == {"database.sqlite3", "crypto-store/@kennisbrug:localhost_DEVICE.db"}
    copy = sqlite3.connect(tmp_path / "backup" / "database.sqlite3")
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    copy.close()
    # Not over the running bot's database, and not into a used folder.
    with pytest.raises(BackupError, match="already running"):
        await restore(config, tmp_path / "backup", force=True)
    with pytest.raises(BackupError, match="not an empty folder"):
        await backup(config, tmp_path / "backup")
    await lock.release()
    with pytest.raises(BackupError, match="move them away first"):
        await restore(config, tmp_path / "backup")
    await db.dispose()

    fresh = load_config(_config_file(tmp_path / "fresh"))
    assert not fresh.matrix.store_path.exists()
    await restore(fresh, tmp_path / "backup")
    restored = Database(fresh.database.url)
    from bot.storage.migrate import current_revision

    assert await current_revision(restored) == "+".join(sorted(head_revisions()))
    await restored.dispose()
    store_copy = sqlite3.connect(fresh.matrix.store_path / "@kennisbrug:localhost_DEVICE.db")
    assert store_copy.execute("SELECT account FROM olm").fetchall() == [("pickled account",)]
    store_copy.close()


async def test_restore_checks_the_files(tmp_path: Path) -> None:
    config = load_config(_config_file(tmp_path / "live"))
    db = Database(config.database.url)
    await migrate(db)
    await db.dispose()
    await backup(config, tmp_path / "backup")
    with (tmp_path / "backup" / "database.sqlite3").open("ab") as handle:
        handle.write(b"tampered")
    fresh = load_config(_config_file(tmp_path / "fresh"))
    with pytest.raises(BackupError, match="does not match its checksum"):
        await restore(fresh, tmp_path / "backup")
    with pytest.raises(BackupError, match="nowhere a backup"):
        await restore(fresh, tmp_path / "nowhere")


def test_backup_of_postgresql_without_pg_dump_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _config_file(tmp_path)
    monkeypatch.setenv("KENNISBRUG_DATABASE_URL", "postgresql+asyncpg://kb:pw@127.0.0.1:1/kb")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert main(["backup", str(tmp_path / "b"), "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "pg_dump is not on PATH" in err and len(err.strip().splitlines()) == 1


# The container recipe and the systemd unit, as plain processes


def _dockerfile() -> dict[str, list[str]]:
    """ENTRYPOINT, CMD and the HEALTHCHECK's CMD (exec form), and the ENV lines."""
    text = (PROJECT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    found: dict[str, list[str]] = {"ENV": []}
    for line in text.splitlines():
        words = line.strip().split(None, 1)
        if not words or line.startswith(" "):
            continue
        if words[0] in ("ENTRYPOINT", "CMD"):
            found[words[0]] = json.loads(words[1])
        elif words[0] == "HEALTHCHECK":
            found["HEALTHCHECK"] = json.loads(words[1].split(" CMD ", 1)[1])
        elif words[0] == "ENV":
            found["ENV"] += shlex.split(words[1])
    return found


def _in_container(argv: list[str], data: Path) -> list[str]:
    """The image's command line with its programme from this environment, /data moved."""
    program = str(Path(sys.executable).with_name(argv[0]))
    return [program, *(a.replace("/data", str(data)) for a in argv[1:])]


def _image_env(recipe: dict[str, list[str]], data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KENNISBRUG_")}
    for item in recipe["ENV"]:
        key, _, value = item.partition("=")
        env[key] = value.replace("/data", str(data))
    return env


def _image_config(data: Path) -> Path:
    """What an operator puts at /data/kennisbrug.yaml; the database comes from the image's ENV."""
    data.mkdir(parents=True, exist_ok=True)
    raw = yaml.safe_load(example_config().read_text(encoding="utf-8"))
    del raw["database"]
    raw["matrix"]["homeserver"] = "http://127.0.0.1:1"
    path = data / "kennisbrug.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


async def test_the_image_healthcheck_judges_the_heartbeat(tmp_path: Path) -> None:
    recipe = _dockerfile()
    assert recipe["ENTRYPOINT"] == ["kennisbrug"]
    data = tmp_path / "data"
    config = load_config(_image_config(data), env=_image_env(recipe, data))
    assert config.database.url == f"sqlite+aiosqlite:///{data}/kennisbrug.db"
    assert config.matrix.store_path == data / "kennisbrug-crypto"
    health = _in_container(recipe["HEALTHCHECK"], data)
    env = _image_env(recipe, data)

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(health, env=env, capture_output=True, text=True, timeout=60, check=False)

    db = Database(config.database.url)
    await migrate(db)
    never = await asyncio.to_thread(check)
    assert never.returncode == 1, never.stderr
    assert "the bot has never run on this database" in json.loads(never.stdout)["problems"]
    clock = SystemClock()
    await Heartbeat(db, clock, clock.now, lambda: True).beat()
    await db.dispose()
    fresh = await asyncio.to_thread(check)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert json.loads(fresh.stdout)["healthy"] is True


def test_the_image_entry_point_runs_the_bot_and_fails_in_one_line(tmp_path: Path) -> None:
    recipe = _dockerfile()
    data = tmp_path / "data"
    _image_config(data)
    argv = _in_container(recipe["ENTRYPOINT"] + recipe["CMD"], data)
    assert argv[1:3] == ["run", "--config"]
    env = {**_image_env(recipe, data), "KENNISBRUG_MATRIX_PASSWORD": "x"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    # The homeserver cannot be reached: exit 6 and one line, never a traceback; the
    # database was made under the image's /data.
    assert done.returncode == 6, done.stderr
    assert "Traceback" not in done.stderr
    stopped = [line for line in done.stderr.splitlines() if line.startswith("Kennisbrug ")]
    assert len(stopped) == 1 and "127.0.0.1:1" in stopped[0]
    assert (data / "kennisbrug.db").is_file()


def test_run_with_an_unusable_database_is_one_line(tmp_path: Path) -> None:
    path = _config_file(tmp_path)
    program = str(Path(sys.executable).with_name("kennisbrug"))
    for url, expected in (
        ("sqlite+aiosqlite:////proc/no-such-folder/k.db", "the database cannot be used"),
        ("postgresql+asyncpg://kb:pw@127.0.0.1:1/kb", "the database cannot be used"),
    ):
        env = {**os.environ, "KENNISBRUG_DATABASE_URL": url, "KENNISBRUG_MATRIX_PASSWORD": "x"}
        done = subprocess.run(
            [program, "run", "--config", str(path)], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 7, done.stderr
        assert "Traceback" not in done.stderr
        assert [line for line in done.stderr.splitlines() if expected in line]


def test_the_systemd_unit_runs_a_known_command() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(PROJECT / "deploy" / "kennisbrug.service")
    service = unit["Service"]
    exec_start = shlex.split(service["ExecStart"])
    assert Path(exec_start[0]).name == "kennisbrug"
    args = build_parser("kennisbrug").parse_args(exec_start[1:])
    assert args.command == "run"
    assert str(args.config).startswith(f"/etc/{service['ConfigurationDirectory']}/")
    state = f"/var/lib/{service['StateDirectory']}"
    assert service["WorkingDirectory"] == state
    assert service["Environment"] == f"KENNISBRUG_DATABASE_URL=sqlite+aiosqlite:///{state}/kennisbrug.db"
    assert service["User"] != "root" and service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
