"""Declarative commands: features are classes whose decorated methods are commands.

Modelled on discord.py's cogs: a command's signature *is* its argument parser, checks
are small predicates attached with decorators, and help is generated from what is
registered here plus the catalogues. Names may have several words (``buddy zoek``);
the router picks the longest name that matches.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from bot.converters import ParamSpec, inspect_params
from bot.errors import RegistryError
from bot.textnorm import closest
from bot.transport import IncomingEvent, IncomingMessage, IncomingReaction, MemberJoined, NewDevice

if TYPE_CHECKING:
    from bot.context import Context
    from bot.services import Services

Check = Callable[["Context"], Awaitable[None]]
F = TypeVar("F", bound=Callable[..., Any])

_COMMAND_ATTR = "__kennisbrug_command__"
_CHECKS_ATTR = "__kennisbrug_checks__"
_LISTENER_ATTR = "__kennisbrug_listener__"


@dataclass(frozen=True)
class CommandInfo:
    """What the ``@command`` decorator records on a method."""

    name: str
    aliases: tuple[str, ...]
    english: str | None
    hidden: bool


@dataclass
class Command:
    """A registered command, bound to its feature instance."""

    name: str
    aliases: tuple[str, ...]
    english: str | None
    hidden: bool
    callback: Callable[..., Awaitable[Any]]
    checks: tuple[Check, ...]
    params: list[ParamSpec]
    feature: Feature

    @property
    def key(self) -> str:
        """The catalogue key stem of this command's help texts (``help.buddy_zoek``)."""
        return "help." + self.name.replace(" ", "_").replace("-", "_")

    def display_name(self, language: str) -> str:
        return self.english if (language == "en" and self.english) else self.name

    def all_names(self) -> tuple[str, ...]:
        names = (self.name, *self.aliases)
        return names + ((self.english,) if self.english and self.english not in names else ())


def normalise_name(name: str) -> str:
    return " ".join(name.lower().split())


def command(
    name: str,
    *,
    aliases: Iterable[str] = (),
    english: str | None = None,
    hidden: bool = False,
) -> Callable[[F], F]:
    """Declare a command. ``name`` is the Dutch name; ``english`` is shown in English help.

    The English name is also an alias, so both languages always work.
    """

    def decorate(func: F) -> F:
        if not inspect.iscoroutinefunction(func):
            raise RegistryError(f"command {name!r} must be an async method")
        setattr(
            func,
            _COMMAND_ATTR,
            CommandInfo(
                name=normalise_name(name),
                aliases=tuple(normalise_name(a) for a in aliases),
                english=normalise_name(english) if english else None,
                hidden=hidden,
            ),
        )
        return func

    return decorate


def check(predicate: Check) -> Callable[[F], F]:
    """Attach a check to a command; checks run in the order they are written."""

    def decorate(func: F) -> F:
        existing: list[Check] = getattr(func, _CHECKS_ATTR, [])
        # Decorators apply bottom-up; insert at the front to keep reading order.
        setattr(func, _CHECKS_ATTR, [predicate, *existing])
        return func

    return decorate


def listener(
    event_type: type[IncomingMessage] | type[IncomingReaction] | type[MemberJoined] | type[NewDevice],
) -> Callable[[F], F]:
    """Declare a method that receives every event of a type (messages that are no command,
    reactions, joins, a member's new device)."""

    def decorate(func: F) -> F:
        if not inspect.iscoroutinefunction(func):
            raise RegistryError(f"listener {func.__name__!r} must be an async method")
        setattr(func, _LISTENER_ATTR, event_type)
        return func

    return decorate


class Feature:
    """Base class of a feature (a *cog*): its commands, listeners, jobs and state.

    Subclasses set ``name`` and receive their services in ``__init__``; ``start`` runs
    after the transport is ready (rebuild scheduled jobs there), ``stop`` at shutdown.
    """

    name: ClassVar[str] = "feature"

    def __init__(self, services: Services) -> None:
        self.services = services

    async def start(self) -> None:
        """Called once the bot is connected; rebuild jobs from the database here."""

    async def stop(self) -> None:
        """Called at shutdown."""

    def declared_commands(self) -> list[Command]:
        found: list[Command] = []
        for attr in dir(type(self)):
            func = getattr(type(self), attr, None)
            info: CommandInfo | None = getattr(func, _COMMAND_ATTR, None)
            if info is None:
                continue
            bound = getattr(self, attr)
            found.append(
                Command(
                    name=info.name,
                    aliases=info.aliases,
                    english=info.english,
                    hidden=info.hidden,
                    callback=bound,
                    checks=tuple(getattr(func, _CHECKS_ATTR, [])),
                    params=inspect_params(bound, info.name),
                    feature=self,
                )
            )
        return found

    def declared_listeners(self) -> list[tuple[type[Any], Callable[[Any], Awaitable[None]]]]:
        found = []
        for attr in dir(type(self)):
            func = getattr(type(self), attr, None)
            event_type = getattr(func, _LISTENER_ATTR, None)
            if event_type is not None:
                found.append((event_type, getattr(self, attr)))
        return found


@dataclass
class Registry:
    """Every feature, command and listener, indexed for the router and for help."""

    features: list[Feature] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    _by_name: dict[str, Command] = field(default_factory=dict)
    _listeners: dict[type[Any], list[Callable[[Any], Awaitable[None]]]] = field(default_factory=dict)

    def add_feature(self, feature: Feature) -> None:
        if any(f.name == feature.name for f in self.features):
            raise RegistryError(f"feature {feature.name!r} is loaded twice")
        self.features.append(feature)
        for cmd in feature.declared_commands():
            for name in cmd.all_names():
                if name in self._by_name:
                    other = self._by_name[name]
                    raise RegistryError(
                        f"command name {name!r} of {feature.name}.{cmd.name} is already used by "
                        f"{other.feature.name}.{other.name}"
                    )
                self._by_name[name] = cmd
            self.commands.append(cmd)
        for event_type, handler in feature.declared_listeners():
            self._listeners.setdefault(event_type, []).append(handler)

    def get(self, name: str) -> Command | None:
        return self._by_name.get(normalise_name(name))

    def resolve(self, words: Sequence[str]) -> tuple[Command, int] | None:
        """The command whose (multi-word) name matches the most leading words."""
        lowered = [w.lower() for w in words]
        for length in range(min(len(lowered), 4), 0, -1):
            found = self._by_name.get(" ".join(lowered[:length]))
            if found is not None:
                return found, length
        return None

    def suggest(self, words: Sequence[str]) -> Command | None:
        """The command whose name or alias is nearest to what was typed, for "did you mean"."""
        if not words:
            return None
        candidates = list(self._by_name)
        for length in (2, 1):
            attempt = " ".join(w.lower() for w in words[:length])
            match = closest(attempt, candidates, cutoff=0.6, min_length=1)
            if match:
                return self._by_name[match]
        return None

    def listeners_for(self, event: IncomingEvent) -> list[Callable[[Any], Awaitable[None]]]:
        return list(self._listeners.get(type(event), []))

    def names(self) -> list[str]:
        return sorted(self._by_name)
