"""Telling members about an event in their DM: a change or cancellation, a place that
came free for them, the confirmation of their own answer; with the calendar file for
those going."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from bot.context import Context
from bot.ids import RoomId, UserId
from bot.services import Services
from bot.transport import OutgoingMessage, Upload
from commands.events import calendar
from commands.events.records import EventRecord, RsvpOutcome, RsvpRecord
from commands.events.rendering import Rendering
from commands.events.store import GOING, NOT_GOING, EventStore

log = logging.getLogger(__name__)


class Notify:
    def __init__(self, services: Services, store: EventStore, rendering: Rendering) -> None:
        self.services = services
        self.store = store
        self.rendering = rendering

    async def signed_up(self, event: EventRecord, key: str, **params: Any) -> int:
        """Everyone with an answer other than "not going" gets a DM (and those going
        the updated calendar file); returns how many."""
        told = 0
        for rsvp in await self.store.rsvps(event.id):
            if rsvp.status == NOT_GOING:
                continue
            user = UserId(rsvp.user_id)
            language = await self.services.members.language_of(user)
            rendered = self.services.catalogue.render(
                language,
                key,
                title=event.title,
                id=event.id,
                when=self.rendering.when(event, language),
                where=self.rendering.where(event, language),
                **params,
            )
            room = await self.services.transport.direct_room(user)
            txn = f"ev.notify.{event.id}.{event.sequence}.{event.status}.{rsvp.id}"
            await self.services.outbox.enqueue(
                OutgoingMessage(room_id=room, plain=rendered.plain, html=rendered.html, txn_id=txn)
            )
            if rsvp.status == GOING:
                await self._send_ics(event, language, room, f"{txn}.ics")
            told += 1
        return told

    async def promoted(self, event: EventRecord, promoted: Sequence[RsvpRecord]) -> None:
        """Those who moved up from the waitlist: they have a place now."""
        for rsvp in promoted:
            user = UserId(rsvp.user_id)
            language = await self.services.members.language_of(user)
            rendered = self.services.catalogue.render(
                language,
                "events.promoted",
                title=event.title,
                id=event.id,
                when=self.rendering.when(event, language),
            )
            room = await self.services.transport.direct_room(user)
            txn = f"ev.promoted.{event.id}.{rsvp.id}.{rsvp.position}"
            await self.services.outbox.enqueue(
                OutgoingMessage(room_id=room, plain=rendered.plain, html=rendered.html, txn_id=txn)
            )
            await self._send_ics(event, language, room, f"{txn}.ics")

    async def confirm(
        self, user: UserId, event: EventRecord, outcome: RsvpOutcome, ctx: Context | None, txn: str
    ) -> None:
        """The member's confirmation in their DM (with the calendar file when going);
        a command in a room also gets a short answer there."""
        status = outcome.status or "withdrawn"
        key = f"events.rsvp.{status}" if outcome.changed else f"events.rsvp.already_{status}"
        language = ctx.language if ctx is not None else await self.services.members.language_of(user)
        params: dict[str, Any] = {
            "title": event.title,
            "id": event.id,
            "when": self.rendering.when(event, language),
            "rank": outcome.waiting_rank or 0,
            "where": self.rendering.where(event, language),
        }
        if ctx is not None and not ctx.is_direct:
            room_key = f"events.rsvp.room_{status}" if outcome.changed else key
            await ctx.reply(room_key, **params)
            if not outcome.changed:
                return
        room = (
            ctx.room_id
            if ctx is not None and ctx.is_direct
            else await self.services.transport.direct_room(user)
        )
        rendered = self.services.catalogue.render(language, key, **params)
        await self.services.transport.send(
            OutgoingMessage(room_id=room, plain=rendered.plain, html=rendered.html, txn_id=f"{txn}.dm")
        )
        if outcome.changed and outcome.status == GOING:
            await self._send_ics(event, language, room, f"{txn}.ics")

    async def _send_ics(self, event: EventRecord, language: str, room: RoomId, txn: str) -> None:
        try:
            await self.services.transport.upload(
                Upload(
                    room_id=room,
                    data=self.rendering.ics(event, language),
                    filename=calendar.filename(event),
                    content_type=calendar.CONTENT_TYPE,
                    txn_id=txn,
                )
            )
        except Exception:
            log.exception("calendar file of event %d could not be sent", event.id)
