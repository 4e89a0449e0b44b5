"""Typed configuration, loaded from YAML and validated at start-up.

Every problem is reported at once, each naming the file, the dotted key and what is
wrong (``config.yaml: rooms.events: "#bijeenkomsten" is not a room alias or id``).
Secrets may come from the environment instead of the file:

- ``KENNISBRUG_MATRIX_PASSWORD``      overrides ``matrix.password``
- ``KENNISBRUG_MATRIX_ACCESS_TOKEN``  overrides ``matrix.access_token``
- ``KENNISBRUG_DATABASE_URL``         overrides ``database.url``
- ``KENNISBRUG_MATRIX_STORE_KEY``     overrides ``matrix.store_key``
- ``KENNISBRUG_MATRIX_RECOVERY_KEY``  overrides ``matrix.recovery_key``

The core sections are declared dataclasses read by :mod:`bot.settings`. Feature sections
(``casus:``, ``buddy:`` …) are kept as raw mappings in :attr:`Config.sections`; each
feature declares its own settings class, read by the same loader.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.errors import ConfigError
from bot.i18n import LANGUAGES
from bot.install_paths import bundled, defaults_dir
from bot.settings import (
    Invalid,
    Problems,
    Reader,
    Scope,
    boolean,
    number,
    read_settings,
    setting,
    text,
    whole,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROFESSIONS_FILE = defaults_dir() / "professions.yaml"

ENV_PASSWORD = "KENNISBRUG_MATRIX_PASSWORD"
ENV_ACCESS_TOKEN = "KENNISBRUG_MATRIX_ACCESS_TOKEN"
ENV_DATABASE_URL = "KENNISBRUG_DATABASE_URL"
ENV_STORE_KEY = "KENNISBRUG_MATRIX_STORE_KEY"
ENV_RECOVERY_KEY = "KENNISBRUG_MATRIX_RECOVERY_KEY"
#: Whose devices get room keys (see bot/matrix/device_trust.py): trust on first use, or all.
TRUST_POLICIES = ("tofu", "all")

ROOM_ALIAS_RE = re.compile(r"^#[^:\s]+:\S+$")
# Room version 12 ids carry no server part, so the id pattern must not require one.
ROOM_ID_RE = re.compile(r"^![^\s:]+(:\S+)?$")
USER_ID_RE = re.compile(r"^@[a-z0-9._=\-/+]+:\S+$")
LOGICAL_NAME_RE = re.compile(r"^[a-z][a-z0-9_\-]*$")
_KNOWN_SECTIONS = {
    "matrix",
    "database",
    "community",
    "rooms",
    "themes",
    "nudges",
    "flood",
    "logging",
    "plugins",
}
MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _room_ref(p: Problems, value: Any, key: str) -> str | None:
    if isinstance(value, str) and (ROOM_ALIAS_RE.match(value) or ROOM_ID_RE.match(value)):
        return value
    p.add(key, f"{value!r} is not a room alias or id (like #name:server or !id)")
    return None


def _clock_time(scope: Scope, value: Any, default: time) -> time:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 20:00 as a sexagesimal number.
        value = f"{value // 60:02d}:{value % 60:02d}"
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value):
        hours, minutes = (int(x) for x in value.split(":"))
        if hours < 24 and minutes < 60:
            return time(hours, minutes)
    scope.report(f"{value!r} must be a time like 20:00")
    return default


def default_store_path(database_url: str) -> Path:
    """The crypto store's folder next to an SQLite database file, else ``data/kennisbrug-crypto``."""
    prefix = "sqlite+aiosqlite:///"
    if database_url.startswith(prefix):
        location = database_url[len(prefix) :].split("?", 1)[0]
        if location and location != ":memory:":
            db_file = Path(location)
            return db_file.with_name(f"{db_file.stem}-crypto")
    return Path("data/kennisbrug-crypto")


def _homeserver(value: Any, scope: Scope) -> str:
    url = scope.read(text(required=True), value) or "http://127.0.0.1:8008"
    if not re.match(r"^https?://", url):
        raise Invalid(f"{url!r} must start with http:// or https://")
    return str(url).rstrip("/")


def _bot_user_id(value: Any, scope: Scope) -> str:
    user_id = scope.read(text(required=True), value) or "@kennisbrug:localhost"
    if not USER_ID_RE.match(user_id):
        raise Invalid(f"{user_id!r} is not a Matrix user id like @kennisbrug:server")
    return str(user_id)


def _access_token(value: Any, scope: Scope) -> str | None:
    """The token, then whether the bot can log in at all (password or token)."""
    token: str | None = scope.read(text(), value)
    if not scope.values["password"] and not token:
        where = f"{scope.path}.password"
        scope.report(f"give a password (or access_token), in the file or in ${ENV_PASSWORD}", where)
    return token


def _store_path(value: Any, scope: Scope) -> Path:
    """The crypto store's folder; when not given (or not a text), next to the database."""
    store = replace(scope, default=None).read(text(), value)
    return Path(store) if store else default_store_path(scope.context)


def _store_key(value: Any, scope: Scope) -> str | None:
    key: str | None = scope.read(text(), value)
    if key is not None and len(key) < 16:
        raise Invalid("must be at least 16 characters (a long random text)")
    return key


def _recovery_key_file(value: Any, scope: Scope) -> Path:
    """Where the key backup's recovery key is written once; default: beside the crypto store."""
    given = replace(scope, default=None).read(text(), value)
    return Path(given) if given else Path(scope.values["store_path"]).parent / "kennisbrug-recovery-key.txt"


def _one_of(choices: tuple[str, ...]) -> Reader:
    def read(value: Any, scope: Scope) -> str:
        chosen = scope.read(text(), value) or scope.default
        if chosen not in choices:
            raise Invalid(f"{chosen!r} must be one of {', '.join(choices)}")
        return str(chosen)

    return read


def _trust(value: Any, scope: Scope) -> str:
    chosen = scope.read(text(), value) or scope.default
    if chosen == "verified":
        # Offered until 2026-12: nio gives the bot no way to verify a device, so every
        # device was blacklisted and no member could read the bot's encrypted messages.
        raise Invalid("'verified' is no longer offered (the bot cannot verify devices); use tofu (default)")
    return _one_of(TRUST_POLICIES)(chosen, scope)


def _timezone(value: Any, scope: Scope) -> str:
    timezone = scope.read(text(), value) or scope.default
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(f"{timezone!r} is not a known time zone (like Europe/Amsterdam)") from exc
    return str(timezone)


def _command_prefix(value: Any, scope: Scope) -> str:
    prefix = scope.read(text(), value) or scope.default
    if len(prefix) > 3 or any(ch.isspace() or ch.isalnum() for ch in prefix):
        raise Invalid(f"{prefix!r} must be one to three punctuation characters")
    return str(prefix)


def _server_names(value: Any, scope: Scope) -> tuple[str, ...]:
    names = value or []
    if not isinstance(names, list) or not all(isinstance(h, str) for h in names):
        raise Invalid("must be a list of server names")
    return tuple(names)


def _user_ids(value: Any, scope: Scope) -> tuple[str, ...]:
    """The valid ids; each bad one is reported by its index."""
    items = value or []
    if not isinstance(items, list):
        raise Invalid("must be a list of Matrix user ids")
    good: list[str] = []
    for i, item in enumerate(items):
        if isinstance(item, str) and USER_ID_RE.match(item):
            good.append(item)
        else:
            scope.report(f"{item!r} is not a Matrix user id like @name:server", key=f"{scope.key}[{i}]")
    return tuple(good)


def _room(value: Any, scope: Scope) -> str | None:
    return None if value is None else _room_ref(scope.problems, value, scope.key)


def _professions_file(value: Any, scope: Scope) -> Path:
    """A file; a relative path is read from the config file's folder, else from the project."""
    path = DEFAULT_PROFESSIONS_FILE
    if value is not None:
        if not isinstance(value, str):
            scope.report("must be a file path")
        else:
            base: Path = scope.context
            candidate = Path(value)
            if not candidate.is_absolute():
                candidate = base / candidate if (base / candidate).exists() else bundled(candidate)
            path = candidate
    if not path.exists():
        scope.report(f"{str(path)!r} does not exist")
    return path


def _quiet_hours(end: bool) -> Reader:
    """One end of ``quiet_hours: 20:00-08:00``; a malformed value is reported once, by the start."""

    def read(value: Any, scope: Scope) -> time:
        if isinstance(value, str) and "-" in value:
            return _clock_time(scope, value.split("-", 1)[end].strip(), scope.default)
        if not end:
            scope.report(f"{value!r} must look like 20:00-08:00")
        return scope.default

    return read


def _database_url(value: Any, scope: Scope) -> str:
    url = scope.read(text(), value) or scope.default
    if not re.match(r"^(sqlite\+aiosqlite|postgresql\+asyncpg)://", url):
        raise Invalid(f"{url!r} must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
    return str(url)


def _seconds_per_command(value: Any, scope: Scope) -> float:
    seconds = number(value, scope)
    if seconds <= 0:
        raise Invalid("must be more than 0")
    return seconds


# The core sections. Fields are read, and their problems reported, in declared order.


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = setting("sqlite+aiosqlite:///data/kennisbrug.db", read=_database_url, env=ENV_DATABASE_URL)


@dataclass(frozen=True)
class MatrixConfig:
    homeserver: str = setting(read=_homeserver, raw=None)
    user_id: str = setting(read=_bot_user_id, raw=None)
    password: str | None = setting(None, read=text(), env=ENV_PASSWORD)
    access_token: str | None = setting(None, read=_access_token, raw=None, env=ENV_ACCESS_TOKEN)
    # End-to-end encryption (see bot/matrix/crypto.py); the store defaults to a folder
    # next to the database file.
    store_path: Path = setting(Path("data/kennisbrug-crypto"), read=_store_path, raw=None)
    store_key: str | None = setting(None, read=_store_key, env=ENV_STORE_KEY)
    trust: str = setting("tofu", read=_trust)
    # Server-side key backup of the room keys (see bot/matrix/key_backup.py).
    key_backup: bool = setting(True, read=boolean())
    recovery_key_file: Path = setting(
        Path("data/kennisbrug-recovery-key.txt"), read=_recovery_key_file, raw=None
    )
    #: A recovery key to restore the room keys from at start (a new crypto store).
    recovery_key: str | None = setting(None, read=text(), env=ENV_RECOVERY_KEY)
    device_id: str | None = setting(None, read=text())
    device_name: str = setting("kennisbrug", read=text())
    sync_timeout_ms: int = setting(30_000, read=whole(1000))
    timeline_limit: int = setting(100, read=whole(10))
    request_timeout_s: float = setting(60.0, read=number)
    max_retry_wait_s: float = setting(3.0, read=number)
    # Scheduled messages (reminders, nudges) sent at once, each to a different room.
    outbox_concurrency: int = setting(32, read=whole(1, 64))
    encryption: bool = setting(True, read=boolean())
    encrypt_private_rooms: bool = setting(True, read=boolean())
    encrypt_community_rooms: bool = setting(False, read=boolean())
    undecryptable_wait_s: float = setting(60.0, read=number)
    #: Members may verify the bot interactively (SAS emoji) in their DM (bot/matrix/verification.py).
    sas_verification: bool = setting(True, read=boolean())
    #: Publish MSC4391 command descriptions in the community rooms at start-up.
    command_descriptions: bool = setting(True, read=boolean())

    @property
    def server_name(self) -> str:
        return self.user_id.split(":", 1)[1]


@dataclass(frozen=True)
class CommunityConfig:
    language: str = setting("nl", read=_one_of(LANGUAGES))
    timezone: str = setting("Europe/Amsterdam", read=_timezone)
    command_prefix: str = setting("!", read=_command_prefix)
    allowed_homeservers: tuple[str, ...] = setting((), read=_server_names)
    space: str | None = setting(None, read=_room)
    professions_file: Path = setting(DEFAULT_PROFESSIONS_FILE, read=_professions_file, raw=None)
    name: str = setting("Kennisbrug", read=text())
    # Who is responsible for the members' data and whom to ask (!privacy names them).
    privacy_contact: str | None = setting(None, read=text())
    admins: tuple[str, ...] = setting((), read=_user_ids)
    moderators: tuple[str, ...] = setting((), read=_user_ids)
    create_rooms: bool = setting(True, read=boolean())
    space_name: str | None = setting(None, read=text())
    admin_power_level: int = setting(100, read=whole())
    moderator_power_level: int = setting(50, read=whole())
    catch_up_hours: float = setting(24.0, read=number)


@dataclass(frozen=True)
class ThemeConfig:
    key: str
    room: str
    name: Mapping[str, str]
    topic: Mapping[str, str] = field(default_factory=dict)

    def label(self, language: str) -> str:
        return self.name.get(language) or next(iter(self.name.values()), self.key)


@dataclass(frozen=True)
class NudgesConfig:
    quiet_start: time = setting(time(20, 0), key="quiet_hours", read=_quiet_hours(end=False))
    quiet_end: time = setting(time(8, 0), key="quiet_hours", read=_quiet_hours(end=True))
    weekly_budget: int = setting(3, read=whole())
    quiet_weekends: bool = setting(True, read=boolean())


@dataclass(frozen=True)
class FloodConfig:
    """Per-member flood control: a burst of ``burst`` commands, then one per ``seconds_per_command``."""

    burst: int = setting(8, read=whole(1))
    seconds_per_command: float = setting(1.5, read=_seconds_per_command)


@dataclass(frozen=True)
class Config:
    source: Path
    matrix: MatrixConfig
    database: DatabaseConfig
    community: CommunityConfig
    rooms: Mapping[str, str]
    themes: tuple[ThemeConfig, ...]
    nudges: NudgesConfig
    flood: FloodConfig = field(default_factory=FloodConfig)
    log_level: str = "INFO"
    plugins: tuple[str, ...] = ()
    sections: Mapping[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> Mapping[str, Any]:
        """A feature's own settings (empty when the operator wrote none)."""
        value = self.sections.get(name) or {}
        return value if isinstance(value, Mapping) else {}

    def all_rooms(self) -> dict[str, str]:
        """Every configured room by logical name; themes as ``theme:<key>``."""
        rooms = dict(self.rooms)
        rooms.update({f"theme:{t.key}": t.room for t in self.themes})
        return rooms


def _mapping(p: Problems, raw: Mapping[str, Any], key: str, required: bool = False) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        if required:
            p.add(key, "section is required")
        return {}
    if not isinstance(value, Mapping):
        p.add(key, "must be a mapping of keys to values")
        return {}
    return value


def _parse_rooms(p: Problems, raw: Mapping[str, Any]) -> dict[str, str]:
    r = _mapping(p, raw, "rooms", required=True)
    rooms: dict[str, str] = {}
    for name, value in r.items():
        if not isinstance(name, str) or not LOGICAL_NAME_RE.match(name):
            p.add(f"rooms.{name}", "room names must be lower-case words (welcome, events …)")
            continue
        ref = _room_ref(p, value, f"rooms.{name}")
        if ref:
            rooms[name] = ref
    for required in ("welcome",):
        if required not in r:
            p.add(f"rooms.{required}", "is required")
    return rooms


def _parse_themes(p: Problems, raw: Mapping[str, Any]) -> tuple[ThemeConfig, ...]:
    value = raw.get("themes") or []
    if not isinstance(value, list):
        p.add("themes", "must be a list of themes (key, room, name)")
        return ()
    themes: list[ThemeConfig] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        path = f"themes[{i}]"
        if not isinstance(item, Mapping):
            p.add(path, "must be a mapping with key, room and name")
            continue
        key = item.get("key")
        if not isinstance(key, str) or not LOGICAL_NAME_RE.match(key):
            p.add(f"{path}.key", f"{key!r} must be a lower-case word like buikpijndossiers")
            continue
        if key in seen:
            p.add(f"{path}.key", f"{key!r} is used by another theme")
        seen.add(key)
        room = _room_ref(p, item.get("room"), f"{path}.room")
        name = item.get("name")
        if isinstance(name, str):
            name = {lang: name for lang in LANGUAGES}
        if not isinstance(name, Mapping) or not all(isinstance(v, str) for v in name.values()):
            p.add(f"{path}.name", "must be a text or a mapping like {nl: …, en: …}")
            name = {"nl": key}
        topic = item.get("topic") or {}
        if isinstance(topic, str):
            topic = {lang: topic for lang in LANGUAGES}
        if room:
            themes.append(ThemeConfig(key=key, room=room, name=dict(name), topic=dict(topic)))
    return tuple(themes)


def parse_config(raw: Any, source: Path, env: Mapping[str, str] | None = None) -> Config:
    """Validate a loaded YAML document; raises :class:`ConfigError` listing every problem."""
    env = os.environ if env is None else env
    p = Problems(f"{source}: ")
    if not isinstance(raw, Mapping):
        raise ConfigError([f"{source}: the file must contain a mapping (matrix:, community:, …)"])
    database = read_settings(DatabaseConfig, _mapping(p, raw, "database"), "database", p, env=env)
    db_url = database.url if database else DatabaseConfig.url
    matrix = read_settings(MatrixConfig, _mapping(p, raw, "matrix", required=True), "matrix", p, db_url, env)
    c = _mapping(p, raw, "community", required=True)
    community = read_settings(CommunityConfig, c, "community", p, context=source.parent)
    rooms = _parse_rooms(p, raw)
    themes = _parse_themes(p, raw)
    nudges = read_settings(NudgesConfig, _mapping(p, raw, "nudges"), "nudges", p)
    logging_section = _mapping(p, raw, "logging")
    level = str(logging_section.get("level", "INFO")).upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        p.add("logging.level", f"{level!r} must be DEBUG, INFO, WARNING or ERROR")
    flood = read_settings(FloodConfig, _mapping(p, raw, "flood"), "flood", p)
    plugins = raw.get("plugins") or []
    if not isinstance(plugins, list) or not all(isinstance(m, str) and MODULE_RE.match(m) for m in plugins):
        p.add("plugins", "must be a list of Python module names (feature packages with setup())")
    used = set(rooms.values())
    for theme in themes:
        if theme.room in used:
            p.add(f"themes.{theme.key}.room", f"{theme.room!r} is already used by another room")
        used.add(theme.room)
    if p.items or not (database and matrix and community and nudges and flood):
        raise ConfigError(p.items)
    sections = {k: v for k, v in raw.items() if k not in _KNOWN_SECTIONS}
    return Config(
        source=source,
        matrix=matrix,
        database=database,
        community=community,
        rooms=rooms,
        themes=themes,
        nudges=nudges,
        flood=flood,
        log_level=level,
        plugins=tuple(plugins),
        sections=sections,
    )


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot be read ({exc.strerror})"]) from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError([f"{path}: is not valid YAML{where}"]) from exc
    return parse_config(raw, path, env)
