"""MSC4391 command descriptions, generated from the registry like ``!help``.

Clients that support MSC4391 (simplified in-room bot commands) read one state event
per command, ``org.matrix.msc4391.command_description``, and offer the command with
its parameters as a form or a slash-command suggestion. When the member sends it, the
message carries ``org.matrix.msc4391.command`` with the command and its arguments as
JSON. Everything here is pure: the descriptions come from the commands' signatures and
the catalogue, so they cannot drift from what the router accepts; structured
arguments go through the same converters as typed ones (the MSC says bots must not
trust the client's validation).

The state key is what the MSC prescribes: the padded base64 of the SHA-256 of the
``command`` property followed by the bot's user id, so descriptions of different bots
never collide and one command always lands on the same key.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, get_args, get_origin

from bot.command_checks import is_place_check
from bot.converters import _QUOTES, ConversionContext, Options, ParamSpec, bind_arguments, convert
from bot.errors import BadArgument, MissingArgument
from bot.help import summary
from bot.i18n import LANGUAGES, Catalogue
from bot.ids import UserId
from bot.registry import Command

#: The unstable event type of a command description (``m.bot.command_description`` once stable).
DESCRIPTION_EVENT_TYPE = "org.matrix.msc4391.command_description"
#: The content block of a structured invocation (``m.bot.command`` once stable).
INVOCATION_KEY = "org.matrix.msc4391.command"

#: The parameter that takes the rest of the line (an extension of mautrix-go and gomuks).
TAIL_PARAMETER = "fi.mau.tail_parameter"

JSON = dict[str, Any]


def state_key(command: str, owner: UserId | str) -> str:
    """The description's state key: padded base64 of ``sha256(command + owner)``."""
    digest = hashlib.sha256((command + owner).encode("utf-8")).digest()
    return base64.b64encode(digest).decode("ascii")


def text_block(body: str) -> JSON:
    """An MSC1767 ``m.text`` container, as the MSC uses for every description."""
    return {"m.text": [{"body": body, "mimetype": "text/plain"}]}


def primitive(kind: str) -> JSON:
    return {"schema_type": "primitive", "type": kind}


def _literal(value: str | int | bool) -> JSON:
    kind = "boolean" if isinstance(value, bool) else "integer" if isinstance(value, int) else "string"
    return {"schema_type": "literal", "value": value, "literal_type": kind}


def parameter_schema(spec: ParamSpec) -> JSON:
    """The MSC type schema of one parameter, from its annotation and converter.

    Dates, free text and numbers with a fraction are strings: the MSC has no date type
    and no floats (canonical JSON forbids them); the bot parses them as it parses
    typed text. ``key=value`` options are an array of ``name=value`` strings.
    """
    if spec.kind == "options":
        return {"schema_type": "array", "items": primitive("string")}
    annotation = spec.annotation
    if annotation is UserId:
        return primitive("user_id")
    if annotation is bool:
        return primitive("boolean")
    if annotation is int:
        return primitive("integer")
    if get_origin(annotation) is Literal:
        choices = [c for c in get_args(annotation) if isinstance(c, str | int | bool)]
        if len(choices) == 1:
            return _literal(choices[0])
        return {"schema_type": "union", "variants": [_literal(c) for c in choices]}
    return primitive("string")


def _parameter_description(spec: ParamSpec, catalogue: Catalogue, language: str) -> str | None:
    label_key = f"core.param.{spec.name}"
    parts = [catalogue.plain(language, label_key)] if catalogue.has(label_key) else []
    if spec.kind == "options":
        parts.append(catalogue.plain(language, "core.command_schema.options"))
    elif spec.annotation is date:
        parts.append(catalogue.plain(language, "core.command_schema.date"))
    return ": ".join(parts) or None


def describe(command: Command, catalogue: Catalogue, language: str) -> JSON:
    """The ``content`` of the command's description event, in ``language``.

    ``command`` is the name in that language; the other language's name is its alias
    (the ``aliases`` field mautrix and gomuks read), so both names complete. A free-text
    parameter that takes the rest of the line is named in ``fi.mau.tail_parameter``.
    """
    name = command.display_name(language)
    others = [command.display_name(other) for other in LANGUAGES if other != language]
    aliases = [alias for alias in dict.fromkeys(others) if alias != name]
    parameters: list[JSON] = []
    for spec in command.params:
        parameter: JSON = {"key": spec.name, "schema": parameter_schema(spec)}
        if not spec.required:
            parameter["optional"] = True
        text = _parameter_description(spec, catalogue, language)
        if text:
            parameter["description"] = text_block(text)
        parameters.append(parameter)
    content: JSON = {"command": name}
    if aliases:
        content["aliases"] = aliases
    content["parameters"] = parameters
    content["description"] = text_block(summary(command, catalogue, language))
    rest = [spec.name for spec in command.params if spec.kind == "rest"]
    if rest:
        # mautrix-go's extension: clients that parse typed input (gomuks) give this
        # parameter the rest of the line, as the router does.
        content[TAIL_PARAMETER] = rest[0]
    return content


def publishable(command: Command) -> bool:
    """Commands every member may run in some room: not hidden, no role checks.

    Role-checked commands (admins, moderators, organisers) would only show ordinary
    members a command that refuses them; the MSC has no way yet to say who may use one.
    Place checks are judged per room (:func:`usable_in`)."""
    return not command.hidden and all(is_place_check(check) for check in command.checks)


def descriptions(
    commands: Iterable[Command], catalogue: Catalogue, language: str, owner: UserId | str
) -> dict[str, JSON]:
    """State key → content for each command, in the order given."""
    found: dict[str, JSON] = {}
    for command in commands:
        content = describe(command, catalogue, language)
        found[state_key(content["command"], owner)] = content
    return found


@dataclass(frozen=True)
class StateChanges:
    """What to send to make a room's descriptions what the registry says."""

    put: dict[str, JSON]
    #: State keys of our descriptions of commands that no longer exist; blanked with ``{}``.
    blank: list[str]
    unchanged: int

    @property
    def empty(self) -> bool:
        return not self.put and not self.blank


def changes(current: Mapping[str, Mapping[str, Any]], wanted: Mapping[str, JSON]) -> StateChanges:
    """Compare the bot's current descriptions in a room (state key → content) with the
    wanted ones; only differences are sent, and stale ones are blanked once."""
    put = {key: content for key, content in wanted.items() if current.get(key) != content}
    blank = sorted(key for key, content in current.items() if key not in wanted and content)
    return StateChanges(put=put, blank=blank, unchanged=len(wanted) - len(put))


# ------------------------------------------------------------------ invocations


def quote(value: str) -> str:
    """``value`` as one token for :func:`bot.converters.tokenize` (quoted when needed)."""
    if value and not any(ch.isspace() or ch in _QUOTES for ch in value):
        return value
    for opening, closing in _QUOTES.items():
        if closing not in value:
            return f"{opening}{value}{closing}"
    raise BadArgument("core.error.bad_argument", param="", value=value[:40])


def _as_text(value: Any, param: str) -> str:
    """A JSON argument as the text a member would have typed for it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    raise BadArgument("core.error.bad_argument", param=param, value=str(value)[:40])


def _option_token(item: Any, param: str) -> str:
    text = _as_text(item, param)
    name, sep, value = text.partition("=")
    return f"{name}={quote(value)}" if sep and name.strip() == name else quote(text)


def bind_structured(
    params: Sequence[ParamSpec], arguments: Mapping[str, Any], ctx: ConversionContext
) -> dict[str, Any]:
    """The keyword arguments of a command from an MSC4391 ``arguments`` object.

    Each value goes through the converter of its parameter, exactly as the typed text
    would; a key the command does not have is refused like extra typed words.
    """
    names = {spec.name for spec in params}
    unknown = [key for key in arguments if key not in names]
    if unknown:
        raise BadArgument("core.error.too_many_arguments", extra=", ".join(map(str, unknown))[:80])
    kwargs: dict[str, Any] = {}
    for spec in params:
        value = arguments.get(spec.name)
        if spec.kind == "options":
            items = [] if value is None else value if isinstance(value, list) else [value]
            text = " ".join(_option_token(item, spec.name) for item in items)
            bound, leftover = bind_arguments([spec], text, ctx)
            if leftover:
                raise BadArgument("core.error.too_many_arguments", extra=" ".join(leftover)[:80])
            kwargs[spec.name] = bound.get(spec.name, Options())
            continue
        given = "" if value is None else _as_text(value, spec.name).strip()
        if not given:
            if spec.required:
                raise MissingArgument("core.error.missing_argument", param=spec.name)
            kwargs[spec.name] = spec.default
        elif spec.kind == "rest":
            kwargs[spec.name] = given
        else:
            kwargs[spec.name] = convert(given, spec.annotation, spec.name, ctx)
    return kwargs
