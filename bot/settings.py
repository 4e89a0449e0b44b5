"""Declared, typed settings: one loader for the core config and every feature's section.

A settings class is a frozen dataclass whose fields say where their value comes from::

    @dataclass(frozen=True)
    class QuestionSettings(Settings):
        section = "questions"
        invite_count: int = setting(3, read=whole_range(1, 20))
        escalate_after: timedelta = setting(timedelta(hours=48), key="escalate_hours", read=hours(1, 336))

``key`` is the YAML key inside the section (the field name when not given; dotted for one
nested mapping, ``evaluation.time``); ``read`` turns the raw value into the field's value or
raises :class:`Invalid` saying what is wrong. A key left out keeps the field's default
without reading it, unless ``raw`` gives a YAML value to read instead (for defaults that
still depend on the rest of the config). A field without :func:`setting` is not
configurable. Fields are read in their declared order and each problem is reported under
its dotted key, so one run reports every problem, in a stable order; a reader may look at
the fields read before it (``scope.values``) to check one against another.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.config import Config

T = TypeVar("T")
S = TypeVar("S", bound="Settings")
Reader = Callable[[Any, "Scope"], Any]
_ABSENT: Any = object()
_METADATA = "kennisbrug.setting"


class Invalid(Exception):
    """A reader's verdict: ``message`` says what is wrong; the loader adds the dotted key."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Problems:
    """Collects problems so one run reports all of them; ``prefix`` names the file, if any."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.items: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.items.append(f"{self.prefix}{key}: {message}")


@dataclass
class Scope:
    """What a reader sees besides its value: where it is, what was read before, the context."""

    key: str  # the dotted key being read, e.g. ``events.reminders``
    path: str  # the section's dotted key, e.g. ``events``
    problems: Problems
    values: dict[str, Any]  # fields read so far (or their defaults), by field name
    default: Any  # this field's default, also what it falls back to when invalid
    # The core Config for a feature's section; for a core section what parse_config passes.
    context: Any = None

    @property
    def config(self) -> Config:
        """The core config, for a feature's section."""
        config: Config = self.context
        return config

    def report(self, message: str, key: str | None = None) -> None:
        """One more problem, under this key or another (``events.reminders[1]``)."""
        self.problems.add(key or self.key, message)

    def read(self, reader: Reader, value: Any) -> Any:
        """``reader``'s value, or (reported) the default when it finds the value invalid."""
        try:
            return reader(value, self)
        except Invalid as problem:
            self.report(problem.message)
            return self.default


@dataclass(frozen=True)
class _Spec:
    read: Reader
    key: str | None
    raw: Any
    env: str | None


def setting(
    default: Any = _ABSENT,
    *,
    read: Reader,
    key: str | None = None,
    raw: Any = _ABSENT,
    env: str | None = None,
) -> Any:
    """A configurable field; ``env`` names an environment variable that, when set, wins."""
    metadata = {_METADATA: _Spec(read, key, raw, env)}
    if default is _ABSENT:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def read_settings(
    cls: type[T],
    data: Mapping[str, Any],
    path: str,
    problems: Problems,
    context: Any = None,
    env: Mapping[str, str] | None = None,
) -> T | None:
    """``cls`` read from ``data`` (the section at ``path``); None when a problem was reported."""
    before = len(problems.items)
    values: dict[str, Any] = {}
    groups: dict[str, Mapping[str, Any]] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        spec = field.metadata.get(_METADATA)
        if spec is None:
            continue
        key = spec.key or field.name
        group, _, leaf = key.rpartition(".")
        mapping = _group(data, group, path, problems, groups) if group else data
        default = field.default if field.default is not dataclasses.MISSING else None
        scope = Scope(f"{path}.{key}", path, problems, values, default, context)
        from_env = env.get(spec.env) if env is not None and spec.env else None
        if from_env:
            raw = from_env
        elif leaf in mapping:
            raw = mapping[leaf]
        elif spec.raw is not _ABSENT:
            raw = spec.raw
        else:
            values[field.name] = default
            continue
        values[field.name] = scope.read(spec.read, raw)
    if len(problems.items) > before:
        return None
    return cls(**values)


def _group(
    data: Mapping[str, Any], name: str, path: str, problems: Problems, seen: dict[str, Mapping[str, Any]]
) -> Mapping[str, Any]:
    """A nested mapping such as ``events.evaluation``; a problem with it is reported once."""
    if name not in seen:
        value = data.get(name) or {}
        if not isinstance(value, Mapping):
            problems.add(f"{path}.{name}", "must be a mapping")
            value = {}
        seen[name] = value
    return seen[name]


class Settings:
    """A feature's settings, read from the config section named by ``section``."""

    section: ClassVar[str]

    @classmethod
    def from_config(cls, config: Config) -> Self:
        """The settings, or :class:`ConfigError` listing every problem by dotted key."""
        problems = Problems()
        settings = read_settings(cls, config.section(cls.section), cls.section, problems, context=config)
        if settings is None:
            raise ConfigError(problems.items)
        return settings


def config_check(
    settings: type[S], then: Callable[[S, Config], list[str]] | None = None
) -> Callable[[Config], list[str]]:
    """A feature package's ``check_config``: the section's problems, then ``then``'s, if any."""

    def check_config(config: Config) -> list[str]:
        try:
            loaded = settings.from_config(config)
        except ConfigError as exc:
            return list(exc.problems)
        return then(loaded, config) if then is not None else []

    check_config.__doc__ = f"Problems in the ``{settings.section}:`` section, for ``check-config``."
    return check_config


# Readers shared by the core config and the features. Their messages are part of the
# interface (operators and tests read them), so the core's and the features' wordings,
# which differ, are both kept.


def text(required: bool = False) -> Reader:
    """A non-empty text; nothing given means the default (or ``is required``)."""

    def read(value: Any, scope: Scope) -> Any:
        if value is None:
            if required:
                raise Invalid("is required")
            return scope.default
        if not isinstance(value, str) or not value.strip():
            raise Invalid(f"{value!r} must be a non-empty text")
        return value

    return read


def whole(minimum: int = 0, maximum: int | None = None) -> Reader:
    """A whole number of at least ``minimum`` (and at most ``maximum``), the core's wording."""

    def read(value: Any, scope: Scope) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise Invalid(f"{value!r} must be a whole number of at least {minimum}")
        if maximum is not None and value > maximum:
            raise Invalid(f"{value!r} must be at most {maximum}")
        return value

    return read


def number(value: Any, scope: Scope) -> float:
    """A number of at least 0, as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise Invalid(f"{value!r} must be a number of at least 0")
    return float(value)


def boolean(quote_value: bool = True) -> Reader:
    """``true`` or ``false``; the core's message quotes the wrong value, the features' do not."""

    def read(value: Any, scope: Scope) -> bool:
        if not isinstance(value, bool):
            raise Invalid(f"{value!r} must be true or false" if quote_value else "must be true or false")
        return value

    return read


def truthy(value: Any, scope: Scope) -> bool:
    """Anything, read as YAML truth (``enabled: 0`` is off)."""
    return bool(value)


def whole_range(low: int, high: int) -> Reader:
    """A whole number from ``low`` to ``high``, the features' wording."""

    def read(value: Any, scope: Scope) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise Invalid(f"must be a whole number from {low} to {high}")
        return value

    return read


def hours(low: int, high: int) -> Reader:
    """A whole number of hours from ``low`` to ``high``, as a timedelta."""
    count = whole_range(low, high)
    return lambda value, scope: timedelta(hours=count(value, scope))


def configured_room(value: Any, scope: Scope) -> str:
    """A logical room name from ``rooms:`` (or ``theme:<key>``)."""
    room = str(value)
    rooms = scope.config.all_rooms()
    if room not in rooms:
        raise Invalid(f"{room!r} is not a configured room (one of {', '.join(sorted(rooms))})")
    return room


def cron(value: Any, scope: Scope) -> str:
    """A crontab expression that fires, in the community's time zone."""
    # Imported here: the scheduler brings SQLAlchemy and APScheduler, which the core
    # config (read before anything else, also by check-config) does not need.
    from bot.scheduler.cron import cron_trigger

    expression = str(value)
    try:
        cron_trigger(expression, scope.config.community.timezone)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    return expression
