"""Keys the bot needs that the operator may keep outside the database.

Three keys protect what the database holds: the pickle key of the crypto store and the
HMAC secrets behind the welcome markers and the anonymous statistics. Without help the
bot generates each once and keeps it in ``core_state`` next to the data it protects
(a copy of the database then holds the key too). An operator can give them instead:

- an environment variable each (:data:`STORE_KEY`, :data:`WELCOME`, :data:`STATS`), or
- one file named by ``$KENNISBRUG_KEYS_FILE``: YAML or JSON, a mapping of the names below
  to their values; readable by its owner only (mode ``0600``), or it is refused.

An environment variable wins over the file. A key given this way is never written to
the database. A secret stored before keeps working only when the same value is given
(copy it out of ``core_state``): a new value gives new markers and tags.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets as _random
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError
from bot.storage import Database, keyvalue

log = logging.getLogger(__name__)

ENV_KEYS_FILE = "KENNISBRUG_KEYS_FILE"
#: Shorter keys are refused: a guessable key protects nothing.
MIN_LENGTH = 16


@dataclass(frozen=True)
class Secret:
    """One key: its name in the keys file, its environment variable, its ``core_state`` key."""

    name: str
    env: str
    state_key: str


STORE_KEY = Secret("matrix_store_key", "KENNISBRUG_MATRIX_STORE_KEY", "matrix.store_key")
WELCOME = Secret("secret_welcome", "KENNISBRUG_SECRET_WELCOME", "introductions.welcome_secret")
STATS = Secret("secret_stats", "KENNISBRUG_SECRET_STATS", "stats.author_secret")
KNOWN = (STORE_KEY, WELCOME, STATS)


class KeysFileError(ConfigError):
    """The keys file cannot be used; reported like any configuration problem."""

    def __init__(self, problem: str) -> None:
        super().__init__([f"{ENV_KEYS_FILE}: {problem}"])


def key_bytes(value: str) -> bytes:
    """An HMAC key from its text: hex (as the bot generates them) decoded, other text as UTF-8."""
    try:
        return bytes.fromhex(value)
    except ValueError:
        return value.encode("utf-8")


def _read_keys_file(path: Path) -> dict[str, str]:
    try:
        info = path.stat()
    except OSError as exc:
        raise KeysFileError(f"cannot read {path} ({exc.strerror})") from exc
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise KeysFileError(
            f"{path} can be read by others (mode {stat.S_IMODE(info.st_mode):o}); "
            f"make it readable by its owner only: chmod 600 {path}"
        )
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise KeysFileError(f"{path} is not readable YAML or JSON ({type(exc).__name__})") from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise KeysFileError(f"{path} must hold a mapping of key names to values")
    known = {secret.name for secret in KNOWN}
    unknown = sorted(str(name) for name in data if name not in known)
    if unknown:
        raise KeysFileError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values: dict[str, str] = {}
    for name, value in data.items():
        if not isinstance(value, str) or not value.strip():
            raise KeysFileError(f"{path}: {name} must be a non-empty text")
        values[str(name)] = value.strip()
    return values


class Secrets:
    """The keys the operator gave; :meth:`get_or_generate` falls back to ``core_state``."""

    def __init__(self, given: Mapping[str, str]) -> None:
        for name, value in given.items():
            if len(value) < MIN_LENGTH:
                raise ConfigError([f"{name}: a key needs at least {MIN_LENGTH} characters"])
        self._given = dict(given)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Secrets:
        """The keys from ``$KENNISBRUG_KEYS_FILE`` and the environment (which wins)."""
        env = os.environ if env is None else env
        given: dict[str, str] = {}
        keys_file = env.get(ENV_KEYS_FILE, "").strip()
        if keys_file:
            given.update(_read_keys_file(Path(keys_file)))
        for secret in KNOWN:
            value = env.get(secret.env, "").strip()
            if value:
                given[secret.name] = value
        return cls(given)

    def get(self, secret: Secret) -> str | None:
        """The value the operator gave, or None."""
        return self._given.get(secret.name)

    def fingerprint(self, secret: Secret) -> str | None:
        """A short hash to log which key is in use, never the key itself."""
        value = self.get(secret)
        return hashlib.sha256(value.encode()).hexdigest()[:8] if value else None

    async def get_or_generate(
        self, db: Database, secret: Secret, generate: Callable[[], str] = lambda: _random.token_hex(32)
    ) -> str:
        """The given value; else the one in ``core_state``, generated and kept there once."""
        given = self.get(secret)
        if given is not None:
            return given
        stored = (await keyvalue.load(db, secret.state_key)).get(secret.state_key)
        if stored:
            return stored
        await keyvalue.save(db, {secret.state_key: generate()})
        log.info(
            "generated %s and kept it in the database (give it as $%s or in $%s to keep it elsewhere)",
            secret.name,
            secret.env,
            ENV_KEYS_FILE,
        )
        # Two first uses at once could both generate one; read back the one that stayed.
        return (await keyvalue.load(db, secret.state_key))[secret.state_key]
