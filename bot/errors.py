"""The typed error hierarchy.

Features raise; only the router turns errors into replies. A ``UserError`` carries a
catalogue key and its placeholders, never ready-made text, so the member reads it in
their own language.
"""

from __future__ import annotations

from typing import Any


class KennisbrugError(Exception):
    """Base of every error this project raises on purpose."""


class UserError(KennisbrugError):
    """Something the member can fix; shown to them as the catalogue text of ``key``."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class CommandNotFound(UserError):
    """The first word is no known command; ``suggestion`` is the nearest name, if any."""

    def __init__(self, name: str, suggestion: str | None = None) -> None:
        if suggestion:
            super().__init__("core.error.unknown_command_suggest", name=name, suggestion=suggestion)
        else:
            super().__init__("core.error.unknown_command", name=name)
        self.name = name
        self.suggestion = suggestion


class BadArgument(UserError):
    """An argument could not be converted to what the command declares."""


class MissingArgument(UserError):
    """A required argument was not given."""


class CheckFailure(UserError):
    """The sender may not run this command here (role, DM-only, room kind)."""


class ConversationError(UserError):
    """An answer in a DM conversation was not accepted; the question is asked again."""


class ConfigError(KennisbrugError):
    """The configuration is invalid; ``problems`` lists every problem, each one line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class TransportError(KennisbrugError):
    """The chat transport failed in a way a retry will not fix by itself."""


class TransportUnavailable(TransportError):
    """The homeserver cannot be reached or answers errors for now; try again later."""


class RateLimited(TransportError):
    """The homeserver asked us to slow down; ``retry_after`` seconds, when it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MessageRejected(TransportError):
    """The homeserver refused this message for good (no permission, no such room, too
    large); sending it again would not help."""


class CommunitySetupError(TransportError):
    """The configured space or rooms cannot be used as they are (missing and not to be
    created, or existing rooms the bot must not adopt); the message says what to do."""


class InvalidCredentials(TransportError):
    """The homeserver rejected our token or password; the bot must stop, not loop."""


class RegistryError(KennisbrugError):
    """Commands were declared inconsistently (a duplicate name or alias, a bad signature)."""
