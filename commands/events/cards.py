"""The event's card in the events room: posted with its calendar file when announced,
replaced when the event changes, edited in place when the places left change."""

from __future__ import annotations

import asyncio
import logging
import uuid

from bot.formatting import Rendered
from bot.ids import EventId, RoomId
from bot.services import Services
from bot.transport import OutgoingMessage, Upload
from commands.events import calendar
from commands.events.records import EventRecord
from commands.events.rendering import Rendering
from commands.events.store import ANNOUNCED, EventStore

log = logging.getLogger(__name__)


class Cards:
    def __init__(self, services: Services, room: str, store: EventStore, rendering: Rendering) -> None:
        self.services = services
        self.room = room
        self.store = store
        self.rendering = rendering
        # Per event: the lock of the edit under way, and whether another edit is owed.
        self._locks: dict[int, asyncio.Lock] = {}
        self._stale: set[int] = set()

    async def _message(self, event: EventRecord) -> Rendered:
        language = self.services.config.community.language
        counts = (await self.store.counts([event.id]))[event.id]
        return self.services.catalogue.render(
            language, "events.card.message", card=self.rendering.card(event, language, counts)
        )

    async def post(self, event: EventRecord) -> None:
        """Post (or replace) the card in the events room, with the calendar file."""
        room = self.services.rooms.room_id(self.room)
        if room is None:
            log.warning("no %s room: card of event %d not posted", self.room, event.id)
            return
        rendered = await self._message(event)
        if event.card_event_id and event.card_room_id:
            await self.services.transport.redact(
                RoomId(event.card_room_id), EventId(event.card_event_id), None
            )
        posted = await self.services.transport.send(
            OutgoingMessage(
                room_id=room,
                plain=rendered.plain,
                html=rendered.html,
                notice=False,
                txn_id=f"ev.card.{event.id}.{event.sequence}.{event.status}",
            )
        )
        await self.store.set_card(event.id, room, posted)
        await self.services.transport.upload(
            Upload(
                room_id=room,
                data=self.rendering.ics(event, self.services.config.community.language),
                filename=calendar.filename(event),
                content_type=calendar.CONTENT_TYPE,
                thread_root=posted,
                txn_id=f"ev.card-ics.{event.id}.{event.sequence}.{event.status}",
            )
        )

    async def refresh_places(self, event_id: int) -> None:
        """Edit the event's card so it shows the places left now.

        Sign-ups that arrive while an edit is under way are folded into one more edit
        after it, so a rush of fifty costs a few edits, not fifty. A failed edit is
        logged: the sign-up itself stands, and ``!event <id>`` is always current."""
        self._stale.add(event_id)
        lock = self._locks.setdefault(event_id, asyncio.Lock())
        if lock.locked():
            return
        try:
            async with lock:
                while event_id in self._stale:
                    self._stale.discard(event_id)
                    try:
                        await self._edit(event_id)
                    except Exception:
                        log.exception("card of event %d could not be updated", event_id)
        finally:
            self._locks.pop(event_id, None)

    async def _edit(self, event_id: int) -> None:
        event = await self.store.get(event_id)
        if event is None or event.status != ANNOUNCED or not event.card_event_id or not event.card_room_id:
            return
        rendered = await self._message(event)
        await self.services.transport.send(
            OutgoingMessage(
                room_id=RoomId(event.card_room_id),
                plain=rendered.plain,
                html=rendered.html,
                notice=False,
                replaces=EventId(event.card_event_id),
                # A repeated edit is harmless; a reused id would hide a later count.
                txn_id=f"ev.card-edit.{event.id}.{uuid.uuid4().hex}",
            )
        )
