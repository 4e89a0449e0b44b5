"""Typed configuration, loaded from YAML and validated at start-up.

Every problem is reported at once, each naming the file, the dotted key and what is
wrong (``config.yaml: rooms.events: "#bijeenkomsten" is not a room alias or id``).
Secrets may come from the environment instead of the file:

- ``KENNISBRUG_MATRIX_PASSWORD``      overrides ``matrix.password``
- ``KENNISBRUG_MATRIX_ACCESS_TOKEN``  overrides ``matrix.access_token``
- ``KENNISBRUG_DATABASE_URL``         overrides ``database.url``
- ``KENNISBRUG_MATRIX_STORE_KEY``     overrides ``matrix.store_key``

Feature sections (``casus:``, ``buddy:`` …) are kept as raw mappings in
:attr:`Config.sections`; each feature validates its own section.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.errors import ConfigError
from bot.i18n import LANGUAGES
from bot.install_paths import bundled, defaults_dir

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROFESSIONS_FILE = defaults_dir() / "professions.yaml"

ENV_PASSWORD = "KENNISBRUG_MATRIX_PASSWORD"
ENV_ACCESS_TOKEN = "KENNISBRUG_MATRIX_ACCESS_TOKEN"
ENV_DATABASE_URL = "KENNISBRUG_DATABASE_URL"
ENV_STORE_KEY = "KENNISBRUG_MATRIX_STORE_KEY"
TRUST_POLICIES = ("all", "verified")

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


@dataclass(frozen=True)
class MatrixConfig:
    homeserver: str
    user_id: str
    password: str | None = None
    access_token: str | None = None
    device_id: str | None = None
    device_name: str = "kennisbrug"
    sync_timeout_ms: int = 30_000
    timeline_limit: int = 100
    request_timeout_s: float = 60.0
    max_retry_wait_s: float = 3.0
    # Scheduled messages (reminders, nudges) sent at once, each to a different room.
    outbox_concurrency: int = 32
    # End-to-end encryption (see bot/matrix/crypto.py).
    encryption: bool = True
    store_path: Path = Path("data/kennisbrug-crypto")
    store_key: str | None = None
    trust: str = "all"
    encrypt_private_rooms: bool = True
    encrypt_community_rooms: bool = False
    undecryptable_wait_s: float = 60.0

    @property
    def server_name(self) -> str:
        return self.user_id.split(":", 1)[1]

    @property
    def share_with_unverified(self) -> bool:
        """Room keys go to every device of every member (``trust: all``)."""
        return self.trust == "all"


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite+aiosqlite:///data/kennisbrug.db"


@dataclass(frozen=True)
class CommunityConfig:
    name: str = "Kennisbrug"
    language: str = "nl"
    timezone: str = "Europe/Amsterdam"
    command_prefix: str = "!"
    admins: tuple[str, ...] = ()
    moderators: tuple[str, ...] = ()
    allowed_homeservers: tuple[str, ...] = ()
    create_rooms: bool = True
    space: str | None = None
    space_name: str | None = None
    admin_power_level: int = 100
    moderator_power_level: int = 50
    catch_up_hours: float = 24.0
    professions_file: Path = DEFAULT_PROFESSIONS_FILE


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
    weekly_budget: int = 3
    quiet_start: time = time(20, 0)
    quiet_end: time = time(8, 0)
    quiet_weekends: bool = True


@dataclass(frozen=True)
class FloodConfig:
    """Per-member flood control: a burst of ``burst`` commands, then one per ``seconds_per_command``."""

    burst: int = 8
    seconds_per_command: float = 1.5


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


class _Problems:
    """Collects problems so one run reports all of them."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.items.append(f"{self.source}: {key}: {message}")


def _str(
    p: _Problems,
    data: Mapping[str, Any],
    key: str,
    path: str,
    default: str | None = None,
    required: bool = False,
) -> str | None:
    value = data.get(key, default)
    if value is None:
        if required:
            p.add(f"{path}.{key}", "is required")
        return None
    if not isinstance(value, str) or not value.strip():
        p.add(f"{path}.{key}", f"{value!r} must be a non-empty text")
        return default
    return value


def _int(
    p: _Problems,
    data: Mapping[str, Any],
    key: str,
    path: str,
    default: int,
    minimum: int = 0,
    maximum: int | None = None,
) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        p.add(f"{path}.{key}", f"{value!r} must be a whole number of at least {minimum}")
        return default
    if maximum is not None and value > maximum:
        p.add(f"{path}.{key}", f"{value!r} must be at most {maximum}")
        return default
    return value


def _number(p: _Problems, data: Mapping[str, Any], key: str, path: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        p.add(f"{path}.{key}", f"{value!r} must be a number of at least 0")
        return default
    return float(value)


def _bool(p: _Problems, data: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        p.add(f"{path}.{key}", f"{value!r} must be true or false")
        return default
    return value


def _user_list(p: _Problems, data: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
    value = data.get(key) or []
    if not isinstance(value, list):
        p.add(f"{path}.{key}", "must be a list of Matrix user ids")
        return ()
    good: list[str] = []
    for i, item in enumerate(value):
        if isinstance(item, str) and USER_ID_RE.match(item):
            good.append(item)
        else:
            p.add(f"{path}.{key}[{i}]", f"{item!r} is not a Matrix user id like @name:server")
    return tuple(good)


def _mapping(p: _Problems, raw: Mapping[str, Any], key: str, required: bool = False) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        if required:
            p.add(key, "section is required")
        return {}
    if not isinstance(value, Mapping):
        p.add(key, "must be a mapping of keys to values")
        return {}
    return value


def _room_ref(p: _Problems, value: Any, path: str) -> str | None:
    if isinstance(value, str) and (ROOM_ALIAS_RE.match(value) or ROOM_ID_RE.match(value)):
        return value
    p.add(path, f"{value!r} is not a room alias or id (like #name:server or !id)")
    return None


def _clock_time(p: _Problems, value: Any, path: str, default: time) -> time:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 20:00 as a sexagesimal number.
        value = f"{value // 60:02d}:{value % 60:02d}"
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value):
        hours, minutes = (int(x) for x in value.split(":"))
        if hours < 24 and minutes < 60:
            return time(hours, minutes)
    p.add(path, f"{value!r} must be a time like 20:00")
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


def _parse_matrix(
    p: _Problems, raw: Mapping[str, Any], env: Mapping[str, str], database_url: str
) -> MatrixConfig:
    m = _mapping(p, raw, "matrix", required=True)
    homeserver = _str(p, m, "homeserver", "matrix", required=True) or "http://127.0.0.1:8008"
    if not re.match(r"^https?://", homeserver):
        p.add("matrix.homeserver", f"{homeserver!r} must start with http:// or https://")
    user_id = _str(p, m, "user_id", "matrix", required=True) or "@kennisbrug:localhost"
    if not USER_ID_RE.match(user_id):
        p.add("matrix.user_id", f"{user_id!r} is not a Matrix user id like @kennisbrug:server")
        user_id = "@kennisbrug:localhost"
    password = env.get(ENV_PASSWORD) or _str(p, m, "password", "matrix")
    access_token = env.get(ENV_ACCESS_TOKEN) or _str(p, m, "access_token", "matrix")
    if not password and not access_token:
        p.add("matrix.password", f"give a password (or access_token), in the file or in ${ENV_PASSWORD}")
    store = _str(p, m, "store_path", "matrix")
    store_key = env.get(ENV_STORE_KEY) or _str(p, m, "store_key", "matrix")
    if store_key is not None and len(store_key) < 16:
        p.add("matrix.store_key", "must be at least 16 characters (a long random text)")
    trust = _str(p, m, "trust", "matrix", default="all") or "all"
    if trust not in TRUST_POLICIES:
        p.add("matrix.trust", f"{trust!r} must be one of {', '.join(TRUST_POLICIES)}")
        trust = "all"
    return MatrixConfig(
        homeserver=homeserver.rstrip("/"),
        user_id=user_id,
        password=password,
        access_token=access_token,
        device_id=_str(p, m, "device_id", "matrix"),
        device_name=_str(p, m, "device_name", "matrix", default="kennisbrug") or "kennisbrug",
        sync_timeout_ms=_int(p, m, "sync_timeout_ms", "matrix", 30_000, minimum=1000),
        timeline_limit=_int(p, m, "timeline_limit", "matrix", 100, minimum=10),
        request_timeout_s=_number(p, m, "request_timeout_s", "matrix", 60.0),
        max_retry_wait_s=_number(p, m, "max_retry_wait_s", "matrix", 3.0),
        outbox_concurrency=_int(p, m, "outbox_concurrency", "matrix", 32, minimum=1, maximum=64),
        encryption=_bool(p, m, "encryption", "matrix", True),
        store_path=Path(store) if store else default_store_path(database_url),
        store_key=store_key,
        trust=trust,
        encrypt_private_rooms=_bool(p, m, "encrypt_private_rooms", "matrix", True),
        encrypt_community_rooms=_bool(p, m, "encrypt_community_rooms", "matrix", False),
        undecryptable_wait_s=_number(p, m, "undecryptable_wait_s", "matrix", 60.0),
    )


def _parse_community(p: _Problems, raw: Mapping[str, Any], base: Path) -> CommunityConfig:
    c = _mapping(p, raw, "community", required=True)
    language = _str(p, c, "language", "community", default="nl") or "nl"
    if language not in LANGUAGES:
        p.add("community.language", f"{language!r} must be one of {', '.join(LANGUAGES)}")
        language = "nl"
    timezone = _str(p, c, "timezone", "community", default="Europe/Amsterdam") or "Europe/Amsterdam"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        p.add("community.timezone", f"{timezone!r} is not a known time zone (like Europe/Amsterdam)")
        timezone = "Europe/Amsterdam"
    prefix = _str(p, c, "command_prefix", "community", default="!") or "!"
    if len(prefix) > 3 or any(ch.isspace() or ch.isalnum() for ch in prefix):
        p.add("community.command_prefix", f"{prefix!r} must be one to three punctuation characters")
        prefix = "!"
    homeservers = c.get("allowed_homeservers") or []
    if not isinstance(homeservers, list) or not all(isinstance(h, str) for h in homeservers):
        p.add("community.allowed_homeservers", "must be a list of server names")
        homeservers = []
    space = c.get("space")
    if space is not None:
        space = _room_ref(p, space, "community.space")
    professions = c.get("professions_file")
    professions_path = DEFAULT_PROFESSIONS_FILE
    if professions is not None:
        if not isinstance(professions, str):
            p.add("community.professions_file", "must be a file path")
        else:
            candidate = Path(professions)
            if not candidate.is_absolute():
                candidate = base / candidate if (base / candidate).exists() else bundled(candidate)
            professions_path = candidate
    if not professions_path.exists():
        p.add("community.professions_file", f"{str(professions_path)!r} does not exist")
    return CommunityConfig(
        name=_str(p, c, "name", "community", default="Kennisbrug") or "Kennisbrug",
        language=language,
        timezone=timezone,
        command_prefix=prefix,
        admins=_user_list(p, c, "admins", "community"),
        moderators=_user_list(p, c, "moderators", "community"),
        allowed_homeservers=tuple(homeservers),
        create_rooms=_bool(p, c, "create_rooms", "community", True),
        space=space,
        space_name=_str(p, c, "space_name", "community"),
        admin_power_level=_int(p, c, "admin_power_level", "community", 100),
        moderator_power_level=_int(p, c, "moderator_power_level", "community", 50),
        catch_up_hours=_number(p, c, "catch_up_hours", "community", 24.0),
        professions_file=professions_path,
    )


def _parse_rooms(p: _Problems, raw: Mapping[str, Any]) -> dict[str, str]:
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


def _parse_themes(p: _Problems, raw: Mapping[str, Any]) -> tuple[ThemeConfig, ...]:
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


def _parse_nudges(p: _Problems, raw: Mapping[str, Any]) -> NudgesConfig:
    n = _mapping(p, raw, "nudges")
    quiet = n.get("quiet_hours", "20:00-08:00")
    quiet_start, quiet_end = time(20, 0), time(8, 0)
    if isinstance(quiet, str) and "-" in quiet:
        start_text, end_text = quiet.split("-", 1)
        quiet_start = _clock_time(p, start_text.strip(), "nudges.quiet_hours", quiet_start)
        quiet_end = _clock_time(p, end_text.strip(), "nudges.quiet_hours", quiet_end)
    else:
        p.add("nudges.quiet_hours", f"{quiet!r} must look like 20:00-08:00")
    return NudgesConfig(
        weekly_budget=_int(p, n, "weekly_budget", "nudges", 3),
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        quiet_weekends=_bool(p, n, "quiet_weekends", "nudges", True),
    )


def parse_config(raw: Any, source: Path, env: Mapping[str, str] | None = None) -> Config:
    """Validate a loaded YAML document; raises :class:`ConfigError` listing every problem."""
    env = os.environ if env is None else env
    p = _Problems(source)
    if not isinstance(raw, Mapping):
        raise ConfigError([f"{source}: the file must contain a mapping (matrix:, community:, …)"])
    db = _mapping(p, raw, "database")
    db_url = env.get(ENV_DATABASE_URL) or _str(p, db, "url", "database", DatabaseConfig.url)
    matrix = _parse_matrix(p, raw, env, db_url or DatabaseConfig.url)
    if db_url and not re.match(r"^(sqlite\+aiosqlite|postgresql\+asyncpg)://", db_url):
        p.add("database.url", f"{db_url!r} must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
    community = _parse_community(p, raw, source.parent)
    rooms = _parse_rooms(p, raw)
    themes = _parse_themes(p, raw)
    nudges = _parse_nudges(p, raw)
    logging_section = _mapping(p, raw, "logging")
    level = str(logging_section.get("level", "INFO")).upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        p.add("logging.level", f"{level!r} must be DEBUG, INFO, WARNING or ERROR")
        level = "INFO"
    flood_section = _mapping(p, raw, "flood")
    flood = FloodConfig(
        burst=_int(p, flood_section, "burst", "flood", 8, minimum=1),
        seconds_per_command=_number(p, flood_section, "seconds_per_command", "flood", 1.5),
    )
    if flood.seconds_per_command <= 0:
        p.add("flood.seconds_per_command", "must be more than 0")
    plugins = raw.get("plugins") or []
    if not isinstance(plugins, list) or not all(isinstance(m, str) and MODULE_RE.match(m) for m in plugins):
        p.add("plugins", "must be a list of Python module names (feature packages with setup())")
        plugins = []
    used = set(rooms.values())
    for theme in themes:
        if theme.room in used:
            p.add(f"themes.{theme.key}.room", f"{theme.room!r} is already used by another room")
        used.add(theme.room)
    if p.items:
        raise ConfigError(p.items)
    sections = {k: v for k, v in raw.items() if k not in _KNOWN_SECTIONS}
    return Config(
        source=source,
        matrix=matrix,
        database=DatabaseConfig(url=db_url or DatabaseConfig.url),
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
