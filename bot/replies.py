"""The one renderer of member mistakes: a :class:`~bot.errors.UserError` to its text.

Features raise; this module decides what the member reads, wherever the error surfaced:
a command's reply (the router), an answer in a conversation (the conversation service),
or a reaction or job where no command is being answered (``MemberService.tell_error``,
which sends it to the member's DM). So an error reads the same on every path.
"""

from __future__ import annotations

from typing import Any

from bot.errors import BadArgument, MissingArgument, UserError
from bot.formatting import Rendered
from bot.help import param_label, usage
from bot.i18n import Catalogue
from bot.registry import Command

#: How much of a rejected argument an error message repeats.
MAX_ECHO_CHARS = 80


def error_reply(
    catalogue: Catalogue,
    language: str,
    error: UserError,
    *,
    command: Command | None = None,
    prefix: str = "!",
) -> Rendered:
    """The message for ``error`` in ``language``.

    A rejected value is shortened (it is the member's own text, echoed back escaped), a
    parameter's internal name becomes its label, and a bad or missing argument of a known
    command comes with the command's usage line.
    """
    params: dict[str, Any] = dict(error.params)
    value = params.get("value")
    if isinstance(value, str) and len(value) > MAX_ECHO_CHARS:
        params["value"] = value[: MAX_ECHO_CHARS - 1] + "…"
    if "param" in params:
        params["param"] = param_label(catalogue, language, str(params["param"]))
    if isinstance(error, BadArgument | MissingArgument) and command is not None:
        shown_usage = usage(command, catalogue, language, prefix)
        return catalogue.render(
            language,
            "core.error.with_usage",
            problem=catalogue.fragment(language, error.key, **{**params, "usage": shown_usage}),
            usage=shown_usage,
        )
    return catalogue.render(language, error.key, **params)
