"""Keys outside the database: environment variables and a keys file (0600 or refused)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.config import parse_config
from bot.errors import ConfigError
from bot.matrix.client import build_client
from bot.matrix.crypto import Crypto
from bot.secrets import ENV_KEYS_FILE, STATS, STORE_KEY, WELCOME, KeysFileError, Secrets
from bot.storage import Database, keyvalue
from commands.introductions.store import ProfileStore
from commands.stats.recorder import InteractionRecorder

NOW = datetime(2027, 3, 16, 9, 0, tzinfo=UTC)
WELCOME_VALUE = "welcome-secret-from-the-operator"
STATS_VALUE = "ab" * 32
STORE_VALUE = "store-key-from-the-operator-0123"


def keys_file(tmp_path: Path, content: str, mode: int = 0o600) -> Path:
    path = tmp_path / "keys.yaml"
    path.write_text(content, encoding="utf-8")
    path.chmod(mode)
    return path


async def stored(db: Database) -> dict[str, str]:
    return await keyvalue.load(db, *(secret.state_key for secret in (STORE_KEY, WELCOME, STATS)))


async def test_without_keys_each_is_generated_once_and_kept_in_the_database(db: Database) -> None:
    secrets = Secrets.from_environment({})
    first = await secrets.get_or_generate(db, WELCOME)
    assert await secrets.get_or_generate(db, WELCOME) == first
    assert (await stored(db)) == {WELCOME.state_key: first}


async def test_keys_from_the_environment_are_never_written_to_the_database(
    db: Database, tmp_path: Path
) -> None:
    env = {WELCOME.env: WELCOME_VALUE, STATS.env: STATS_VALUE}
    secrets = Secrets.from_environment(env)
    profiles = ProfileStore(db, FakeClock(NOW), secrets)
    recorder = InteractionRecorder(db, FakeClock(NOW), secrets=secrets)
    marker = await profiles.marker_for("@bob:localhost")
    tag = await recorder.author_tag("@bob:localhost")
    assert marker == hmac.new(WELCOME_VALUE.encode(), b"@bob:localhost", hashlib.sha256).hexdigest()
    assert tag == hmac.new(bytes.fromhex(STATS_VALUE), b"@bob:localhost", hashlib.sha256).hexdigest()[:32]
    assert await stored(db) == {}


async def test_a_keys_file_gives_the_crypto_store_key(db: Database, tmp_path: Path) -> None:
    path = keys_file(tmp_path, json.dumps({STORE_KEY.name: STORE_VALUE}))
    secrets = Secrets.from_environment({ENV_KEYS_FILE: str(path)})
    raw = {
        "matrix": {"homeserver": "http://127.0.0.1:1", "user_id": "@kennisbrug:localhost", "password": "x"},
        "database": {"url": "sqlite+aiosqlite:///:memory:"},
        "community": {},
        "rooms": {"welcome": "#welkom:localhost"},
    }
    raw["matrix"]["store_path"] = str(tmp_path / "store")
    cfg = parse_config(raw, tmp_path / "bot.yaml", env={})
    client = build_client(cfg)
    try:
        await Crypto(client, cfg, db, FakeClock(NOW), secrets).prepare()
        assert client.config.pickle_key == STORE_VALUE
        assert await stored(db) == {}
    finally:
        await client.close()


def test_the_environment_wins_over_the_keys_file(tmp_path: Path) -> None:
    path = keys_file(
        tmp_path, f"{WELCOME.name}: from-the-file-0123456789\n{STATS.name}: stats-from-the-file-0123\n"
    )
    secrets = Secrets.from_environment({ENV_KEYS_FILE: str(path), WELCOME.env: WELCOME_VALUE})
    assert secrets.get(WELCOME) == WELCOME_VALUE
    assert secrets.get(STATS) == "stats-from-the-file-0123"
    assert secrets.get(STORE_KEY) is None


def test_a_keys_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = keys_file(tmp_path, f"{WELCOME.name}: {WELCOME_VALUE}\n", mode=0o644)
    with pytest.raises(KeysFileError) as error:
        Secrets.from_environment({ENV_KEYS_FILE: str(path)})
    [problem] = error.value.problems
    assert "can be read by others (mode 644)" in problem and f"chmod 600 {path}" in problem


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("- a list\n", "must hold a mapping"),
        ("secret_wellcome: x0123456789abcdefg\n", "unknown key(s) secret_wellcome"),
        ("secret_welcome: 12\n", "secret_welcome must be a non-empty text"),
        ("secret_welcome: [unclosed\n", "not readable YAML or JSON"),
    ],
)
def test_a_bad_keys_file_says_what_is_wrong(tmp_path: Path, content: str, expected: str) -> None:
    path = keys_file(tmp_path, content)
    with pytest.raises(KeysFileError) as error:
        Secrets.from_environment({ENV_KEYS_FILE: str(path)})
    assert expected in error.value.problems[0]


def test_a_missing_keys_file_or_a_short_key_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(KeysFileError, match="cannot read"):
        Secrets.from_environment({ENV_KEYS_FILE: str(tmp_path / "nothing.yaml")})
    with pytest.raises(ConfigError, match="at least 16 characters"):
        Secrets.from_environment({WELCOME.env: "short"})
