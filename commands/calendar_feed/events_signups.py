"""The events feature's side of :class:`~commands.calendar_feed.sources.SignupSource`,
written against the events feature's public store (its export and its records), not its
tables. It belongs on the events feature class, as the accreditation and digest sources
do; until it moves there it lives here, typed by the small protocols below so that this
package imports nothing of ``commands.events``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from commands.calendar_feed.sources import GOING, WAITING, SignedUp

if TYPE_CHECKING:
    from bot.registry import Registry

SHOWN_EVENT_STATUSES = ("announced", "cancelled")  # drafts are no one's agenda yet


class _EventRecord(Protocol):
    @property
    def uid(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def ends_at(self) -> datetime: ...
    @property
    def place(self) -> str | None: ...
    @property
    def link(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def sequence(self) -> int: ...
    @property
    def updated_at(self) -> datetime: ...


class _EventStore(Protocol):
    async def export_member(self, user_id: str) -> Mapping[str, Any]: ...
    async def get(self, event_id: int) -> _EventRecord | None: ...


class EventsSignups:
    def __init__(self, store: _EventStore) -> None:
        self._store = store

    @classmethod
    def of(cls, registry: Registry) -> EventsSignups | None:
        feature = next((f for f in registry.features if f.name == "events"), None)
        store = getattr(feature, "store", None)
        return cls(store) if store is not None else None

    async def signed_up(self, user_id: str) -> list[SignedUp]:
        exported = await self._store.export_member(user_id)
        found: list[SignedUp] = []
        for answer in exported.get("sign_ups", []):
            if answer["status"] not in (GOING, WAITING):
                continue
            event = await self._store.get(int(answer["event"]))
            if event is None or event.status not in SHOWN_EVENT_STATUSES:
                continue
            found.append(
                SignedUp(
                    uid=event.uid,
                    title=event.title,
                    starts_at=event.starts_at,
                    ends_at=event.ends_at,
                    place=event.place,
                    link=event.link,
                    cancelled=event.status == "cancelled",
                    sequence=event.sequence,
                    updated_at=event.updated_at,
                    signup=answer["status"],
                )
            )
        return sorted(found, key=lambda e: e.starts_at)
