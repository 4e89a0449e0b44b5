"""The seam through which the calendar feed reads a member's events.

Events own meetings and sign-ups; the feed owns only its links. The events feature's
side is :class:`SignupSource`; the feed finds it in the registry and never touches the
events tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bot.registry import Registry

GOING = "going"
WAITING = "waiting"


@dataclass(frozen=True)
class SignedUp:
    """One event a member signed up for, as a calendar needs it."""

    uid: str  # the UID of the events feature's own .ics file: one entry, not two
    title: str
    starts_at: datetime
    ends_at: datetime
    place: str | None
    link: str | None
    cancelled: bool
    sequence: int
    updated_at: datetime
    signup: str  # GOING or WAITING


@runtime_checkable
class SignupSource(Protocol):
    async def signed_up(self, user_id: str) -> list[SignedUp]:
        """The announced or cancelled events the member is going to or waiting for."""
        ...


def signup_source(registry: Registry) -> SignupSource | None:
    return next((f for f in registry.features if isinstance(f, SignupSource)), None)
