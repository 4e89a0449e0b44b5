"""Telling members about an event in their DM: a change or cancellation, a place that
came free for them, the confirmation of their own answer; with the calendar file for
those going.

Texts go through :meth:`~bot.members.MemberService.tell`, which decides between sending
directly and the outbox. The calendar file is uploaded here, under the transaction id
``{txn}.ics`` that earlier versions used (sent ids are recorded, so a replay after an
upgrade still finds it sent)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from bot.context import Context
from bot.ids import UserId
from bot.services import Services
from bot.transport import Upload
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

    def _texts(self, event: EventRecord) -> dict[str, Any]:
        """``when`` and ``where``, in each member's language."""
        return {
            "when": lambda language: self.rendering.when(event, language),
            "where": lambda language: self.rendering.where(event, language),
        }

    async def signed_up(self, event: EventRecord, key: str, **params: Any) -> int:
        """Everyone with an answer other than "not going" gets a DM (and those going
        the updated calendar file); returns how many."""
        rsvps = [r for r in await self.store.rsvps(event.id) if r.status != NOT_GOING]
        txn = {
            UserId(r.user_id): f"ev.notify.{event.id}.{event.sequence}.{event.status}.{r.id}" for r in rsvps
        }
        told = await self.services.members.tell_many(
            list(txn),
            key,
            txn_id=lambda user: txn[user],
            title=event.title,
            id=event.id,
            **self._texts(event),
            **params,
        )
        for rsvp in rsvps:
            if rsvp.status == GOING:
                user = UserId(rsvp.user_id)
                await self._send_ics(event, user, f"{txn[user]}.ics")
        return told

    async def promoted(self, event: EventRecord, promoted: Sequence[RsvpRecord]) -> None:
        """Those who moved up from the waitlist: they have a place now."""
        for rsvp in promoted:
            user = UserId(rsvp.user_id)
            txn = f"ev.promoted.{event.id}.{rsvp.id}.{rsvp.position}"
            await self.services.members.tell(
                user,
                "events.promoted",
                txn_id=txn,
                title=event.title,
                id=event.id,
                when=self._texts(event)["when"],
            )
            await self._send_ics(event, user, f"{txn}.ics")

    async def confirm(
        self, user: UserId, event: EventRecord, outcome: RsvpOutcome, ctx: Context | None, txn: str
    ) -> None:
        """The member's confirmation in their DM (with the calendar file when going);
        a command in a room also gets a short answer there."""
        status = outcome.status or "withdrawn"
        key = f"events.rsvp.{status}" if outcome.changed else f"events.rsvp.already_{status}"
        params: dict[str, Any] = {"title": event.title, "id": event.id, "rank": outcome.waiting_rank or 0}
        if ctx is not None and not ctx.is_direct:
            room_key = f"events.rsvp.room_{status}" if outcome.changed else key
            language = ctx.language
            when, where = self.rendering.when(event, language), self.rendering.where(event, language)
            await ctx.reply(room_key, **params, when=when, where=where)
            if not outcome.changed:
                return
        params.update(self._texts(event))
        await self.services.members.tell(user, key, txn_id=f"{txn}.dm", answering=ctx, **params)
        if outcome.changed and outcome.status == GOING:
            await self._send_ics(event, user, f"{txn}.ics", ctx)

    async def _send_ics(self, event: EventRecord, user: UserId, txn: str, ctx: Context | None = None) -> None:
        """The calendar file, after the text it belongs to (in the DM the command was
        typed in, else the member's DM); a failure is logged, the text stands."""
        members = self.services.members
        try:
            room = ctx.room_id if ctx is not None and ctx.is_direct else await members.direct_room(user)
            language = ctx.language if ctx is not None else await members.language_of(user)
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
