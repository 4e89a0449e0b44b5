"""``kennisbrug init``: a commented starter config from a few answers.

The answers come from flags (``--non-interactive``: scripts and tests) or from
questions on the terminal (a piped stdin works too: one answer a line). Secrets are
not asked: the file says which environment variable carries them, unless ``--secret``
puts one in the file (which is then readable by its owner only).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from bot.config import ENV_ACCESS_TOKEN, ENV_PASSWORD
from bot.errors import KennisbrugError
from bot.install_paths import example_config

USER_ID_RE = re.compile(r"^@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-]+(:\d+)?$")
ROOM_REF_RE = re.compile(r"^[#!][^:\s]+:[A-Za-z0-9.\-]+(:\d+)?$")
THEME_KEY_RE = re.compile(r"^[a-z][a-z0-9-]*$")
BASE_ROOMS = ("welcome", "events", "questions")
#: Local parts of the rooms the bot creates for the base rooms (the example's names).
BASE_LOCALPARTS = {"welcome": "welkom", "events": "bijeenkomsten", "questions": "vragen"}
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/kennisbrug.db"


class InitError(KennisbrugError):
    """An answer is not usable; the message says which and why."""


@dataclass
class Answers:
    homeserver: str = ""
    user_id: str = ""
    login: str = "password"  # or "token"
    secret: str | None = None
    create_rooms: bool = True
    rooms: dict[str, str] = field(default_factory=dict)
    themes: dict[str, str] = field(default_factory=dict)
    admins: list[str] = field(default_factory=list)
    database_url: str = DEFAULT_DATABASE_URL

    @property
    def server_name(self) -> str:
        return self.user_id.split(":", 1)[1]


def check_homeserver(value: str) -> str:
    value = value.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", value):
        raise InitError(f"homeserver: {value!r} must be a URL like https://matrix.example.org")
    return value


def check_user_id(value: str) -> str:
    value = value.strip()
    if not USER_ID_RE.match(value):
        raise InitError(f"user id: {value!r} must look like @kennisbrug:example.org")
    return value


def check_admins(value: str | Sequence[str]) -> list[str]:
    items = value.split(",") if isinstance(value, str) else [part for v in value for part in v.split(",")]
    admins = [a.strip() for a in items if a.strip()]
    if not admins:
        raise InitError("admins: name at least one admin, e.g. @alice:example.org")
    for admin in admins:
        if not USER_ID_RE.match(admin):
            raise InitError(f"admins: {admin!r} must look like @alice:example.org")
    return admins


def check_room(logical: str, value: str) -> str:
    value = value.strip()
    if not ROOM_REF_RE.match(value):
        raise InitError(f"{logical}: {value!r} must be an alias (#name:server) or a room id (!id:server)")
    return value


def check_themes(value: str | Sequence[str]) -> dict[str, str]:
    """``key=#room:server`` items (comma separated or repeated)."""
    items = value.split(",") if isinstance(value, str) else [part for v in value for part in v.split(",")]
    themes: dict[str, str] = {}
    for item in (i.strip() for i in items):
        if not item:
            continue
        key, sep, room = item.partition("=")
        key = key.strip()
        if not sep or not THEME_KEY_RE.match(key):
            raise InitError(f"themes: {item!r} must be key=#room:server, the key a lower-case word")
        themes[key] = check_room(f"themes.{key}", room)
    return themes


def _example_themes() -> list[Mapping[str, Any]]:
    """The example config's themes: their keys, names and topics, and their room local parts."""
    raw = yaml.safe_load(example_config().read_text(encoding="utf-8"))
    themes = raw.get("themes") if isinstance(raw, dict) else None
    return [t for t in themes or [] if isinstance(t, Mapping) and isinstance(t.get("key"), str)]


def _rooms_section(answers: Answers) -> tuple[dict[str, str], list[dict[str, Any]]]:
    known = {str(t["key"]): t for t in _example_themes()}
    if answers.create_rooms:
        server = answers.server_name
        rooms = {name: f"#{BASE_LOCALPARTS[name]}:{server}" for name in BASE_ROOMS}
        theme_rooms = {key: f"#{str(t['room'])[1:].split(':', 1)[0]}:{server}" for key, t in known.items()}
    else:
        rooms = {name: answers.rooms[name] for name in BASE_ROOMS}
        theme_rooms = dict(answers.themes)
    themes: list[dict[str, Any]] = []
    for key, room in theme_rooms.items():
        example = known.get(key, {})
        theme: dict[str, Any] = {"key": key, "room": room, "name": example.get("name") or key}
        if example.get("topic"):
            theme["topic"] = example["topic"]
        themes.append(theme)
    return rooms, themes


def _q(value: str) -> str:
    """A YAML scalar (JSON strings are YAML)."""
    return json.dumps(value, ensure_ascii=False)


def render(answers: Answers) -> str:
    """The starter config's text, commented."""
    rooms, themes = _rooms_section(answers)
    env_var = ENV_PASSWORD if answers.login == "password" else ENV_ACCESS_TOKEN
    key = "password" if answers.login == "password" else "access_token"
    if answers.secret is not None:
        secret_lines = f"  {key}: {_q(answers.secret)}\n"
    else:
        secret_lines = (
            f"  # The {key.replace('_', ' ')} comes from the environment: set {env_var}\n"
            f"  # (a systemd EnvironmentFile or the container's environment), or write it here:\n"
            f'  # {key}: "..."\n'
        )
    room_lines = "".join(f"  {name}: {_q(ref)}\n" for name, ref in rooms.items())
    theme_text = (
        yaml.safe_dump(themes, allow_unicode=True, sort_keys=False, default_flow_style=None, width=100)
        if themes
        else "[]\n"
    )
    if answers.create_rooms:
        rooms_comment = (
            "# The bot creates these rooms (and the space #kennisbrug:<server>) at its first start.\n"
        )
    else:
        rooms_comment = (
            "# Existing rooms: invite the bot and give it power level 100 in each. Rooms under an\n"
            "# alias are used only when a configured admin created them; room ids (!...) always.\n"
        )
    return f"""\
# Kennisbrug configuration, written by `kennisbrug init`.
# Every option is explained in the reference config shipped with Kennisbrug
# ({example_config()}). Check this file with:
#   kennisbrug check-config --config PATH

matrix:
  # The homeserver's client URL.
  homeserver: {_q(answers.homeserver)}
  # The bot's own account (create it on the homeserver first).
  user_id: {_q(answers.user_id)}
{secret_lines}  device_name: kennisbrug
  # The crypto store (device and room keys) lives next to the SQLite database by
  # default. Back it up together with the database: `kennisbrug backup DIR`.

database:
  # SQLite (a file) or PostgreSQL: postgresql+asyncpg://user:password@host/dbname
  # ($KENNISBRUG_DATABASE_URL overrides this).
  url: {_q(answers.database_url)}

community:
  name: Kennisbrug
  # Default language for members who have not chosen one (nl or en).
  language: nl
  timezone: Europe/Amsterdam
  # Admins by user id; they may use every community command.
  admins: [{", ".join(_q(a) for a in answers.admins)}]
  moderators: []
  # Direct chats are accepted only from members of these homeservers.
  allowed_homeservers: [{_q(answers.server_name)}]
  # Create missing rooms (inside a space) at start-up.
  create_rooms: {"true" if answers.create_rooms else "false"}
  # The community space. Default: #kennisbrug:<bot's server>, created when create_rooms
  # is true; with create_rooms false a community without a space is fine.
  # space: "#kennisbrug:{answers.server_name}"

{rooms_comment}rooms:
{room_lines}
# One themed room each (casus prompts are posted there).
themes:
{_indent(theme_text)}
logging:
  # DEBUG, INFO, WARNING or ERROR. Message texts, tokens and passwords are never logged.
  level: INFO
"""


def _indent(text: str) -> str:
    return "".join(f"  {line}\n" if line.strip() else "\n" for line in text.splitlines())


def write(path: Path, answers: Answers, *, force: bool = False) -> None:
    if path.exists() and not force:
        raise InitError(f"{path}: exists; choose another path or pass --force")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render(answers)
    # The file may hold a secret (and names the admins): readable by its owner only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def from_flags(
    *,
    homeserver: str | None,
    user_id: str | None,
    login: str,
    secret: str | None,
    rooms_mode: str,
    rooms: Sequence[str],
    themes: Sequence[str],
    admins: Sequence[str],
    database_url: str | None,
) -> Answers:
    """The answers of ``--non-interactive``: every required one must be given."""
    if not homeserver:
        raise InitError("--homeserver is required with --non-interactive")
    if not user_id:
        raise InitError("--user-id is required with --non-interactive")
    answers = Answers(
        homeserver=check_homeserver(homeserver),
        user_id=check_user_id(user_id),
        login=login,
        secret=secret,
        create_rooms=rooms_mode == "create",
        admins=check_admins(admins),
        database_url=database_url or DEFAULT_DATABASE_URL,
    )
    if not answers.create_rooms:
        given: dict[str, str] = {}
        for item in rooms:
            name, sep, ref = item.partition("=")
            if not sep or name.strip() not in BASE_ROOMS:
                raise InitError(f"--room: {item!r} must be one of {', '.join(BASE_ROOMS)}=#room:server")
            given[name.strip()] = check_room(f"rooms.{name.strip()}", ref)
        missing = [name for name in BASE_ROOMS if name not in given]
        if missing:
            raise InitError("--rooms existing needs --room NAME=#room:server for " + ", ".join(missing))
        answers.rooms = given
        answers.themes = check_themes(themes)
    return answers


def _ask(
    stdin: TextIO, stdout: TextIO, question: str, check: Callable[[str], Any], default: str | None = None
) -> Any:
    """Ask until the answer passes ``check``; an empty answer takes the default."""
    while True:
        shown = f" [{default}]" if default else ""
        stdout.write(f"{question}{shown}: ")
        stdout.flush()
        line = stdin.readline()
        if not line:
            raise InitError(f"no answer to {question!r} (end of input)")
        answer = line.strip() or (default or "")
        try:
            return check(answer)
        except InitError as exc:
            stdout.write(f"  {exc}\n")


def _choice(options: Sequence[str]) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = value.strip().lower()
        for option in options:
            if value and option.startswith(value):
                return option
        raise InitError(f"answer one of: {', '.join(options)}")

    return check


def ask(stdin: TextIO, stdout: TextIO) -> Answers:
    """The answers from questions on ``stdin``/``stdout``."""
    answers = Answers()
    answers.homeserver = _ask(stdin, stdout, "Homeserver URL", check_homeserver, "https://matrix.example.org")
    answers.user_id = _ask(stdin, stdout, "The bot's user id (the account must exist)", check_user_id)
    answers.login = _ask(
        stdin,
        stdout,
        "Log in with a password or an access token (password/token)",
        _choice(("password", "token")),
        "password",
    )
    mode = _ask(
        stdin,
        stdout,
        "Rooms: let the bot create them, or use existing ones (create/existing)",
        _choice(("create", "existing")),
        "create",
    )
    answers.create_rooms = mode == "create"
    if not answers.create_rooms:
        for name in BASE_ROOMS:
            answers.rooms[name] = _ask(stdin, stdout, f"Room '{name}': alias or id", _room_check(name))
        answers.themes = _ask(
            stdin,
            stdout,
            "Theme rooms as key=#room:server, comma separated (empty: none)",
            check_themes,
            "",
        )
    answers.admins = _ask(stdin, stdout, "Admins (user ids, comma separated)", check_admins)
    answers.database_url = _ask(stdin, stdout, "Database URL", lambda v: v.strip(), DEFAULT_DATABASE_URL)
    return answers


def _room_check(logical: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        return check_room(f"rooms.{logical}", value)

    return check


def secret_hint(answers: Answers) -> str | None:
    """What to set before the first start, when the secret is not in the file."""
    if answers.secret is not None:
        return None
    env_var = ENV_PASSWORD if answers.login == "password" else ENV_ACCESS_TOKEN
    return f"set {env_var} in the bot's environment before it starts"
