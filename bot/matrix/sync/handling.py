"""One timeline event: filtered, turned into a core event, claimed, handed to the core.

The handler is awaited per event, in timeline order per room, so order within a room
is kept; an exception in it marks the event ``failed`` and the loop goes on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bot.ids import RoomId, UserId
from bot.matrix import events, polls, verification
from bot.matrix.direct_chat_rooms import DirectChats
from bot.matrix.sync.checkpoint import EventLedger
from bot.matrix.sync.reactions import ReactionMemory
from bot.matrix.sync.undecryptable import UndecryptableWait
from bot.matrix.verification import InRoomVerification
from bot.room_directory import RoomDirectory
from bot.storage.database import database_unavailable
from bot.transport import EventHandler, IncomingEvent, IncomingMessage, IncomingReaction, PollVote

log = logging.getLogger(__name__)


class EventHandling:
    """Turns timeline events into core events and hands each to the core once."""

    def __init__(
        self,
        own: UserId,
        direct: DirectChats,
        directory: RoomDirectory,
        ledger: EventLedger,
        reactions: ReactionMemory,
        waiting: UndecryptableWait,
        *,
        cutoff: Callable[[], datetime],
        synced: asyncio.Event,
        verifications: InRoomVerification | None = None,
    ) -> None:
        self._own = own
        self._direct = direct
        self._directory = directory
        self._ledger = ledger
        self._reactions = reactions
        self._waiting = waiting
        self._cutoff = cutoff
        self._synced = synced
        self._verifications = verifications

    async def handle(self, room_id: RoomId, source: Mapping[str, Any], handler: EventHandler) -> None:
        ev = events.basics(source)
        if ev is not None:
            self._reactions.note_sender(ev.event_id, own=ev.sender == self._own)
        if ev is None or ev.sender == self._own or ev.timestamp < self._cutoff():
            return
        direct = self._direct.is_direct_cached(room_id)
        if direct and not self._direct.allowed_user(ev.sender):
            return
        if ev.type == "m.room.encrypted":
            await self._waiting.hold(room_id, source, ev, handler)
            return
        if verification.is_verification(ev.type, ev.content):
            if direct and self._verifications is not None:
                await self._verify(room_id, ev, handler)
            return
        incoming = await self._incoming(room_id, source, ev, direct)
        if incoming is None:
            return
        if not self._synced.is_set() and isinstance(incoming, IncomingMessage | IncomingReaction | PollVote):
            # The first batch of this run: what arrived while the bot was away.
            incoming = dataclasses.replace(incoming, backlog=True)
        if not await self._ledger.claim(room_id, ev):
            return
        if ev.type == "m.reaction" and isinstance(incoming, IncomingReaction):
            await self._reactions.remember_if_on_own(room_id, incoming)
        status = "done"
        try:
            await handler(incoming)
        except Exception as exc:
            if database_unavailable(exc):  # not handled: left claimed, taken up again on the retry
                self._ledger.release(ev.event_id)
                raise
            status = "failed"
            log.exception("handling %s %s in %s failed", ev.type, ev.event_id, room_id)
        self._ledger.finish(ev.event_id, status)

    async def _verify(self, room_id: RoomId, ev: events.EventBasics, handler: EventHandler) -> None:
        """A step of a member's verification of the bot, handled once (a replay is skipped)."""
        assert self._verifications is not None
        if not await self._ledger.claim(room_id, ev):
            return
        status = "done"
        try:
            await self._verifications.handle(room_id, ev, handler)
        except Exception as exc:
            if database_unavailable(exc):
                self._ledger.release(ev.event_id)
                raise
            status = "failed"
            log.exception("verification step %s %s in %s failed", ev.type, ev.event_id, room_id)
        self._ledger.finish(ev.event_id, status)

    async def _incoming(
        self, room_id: RoomId, source: Mapping[str, Any], ev: events.EventBasics, direct: bool
    ) -> IncomingEvent | None:
        """The core event for a timeline event; None for one the core does not see."""
        if ev.type == "m.room.message":
            return events.to_message(room_id, ev, direct)
        if ev.type == "m.reaction":
            return events.to_reaction(room_id, ev)
        if ev.type == "m.room.redaction":
            removal = events.to_redaction(source, ev)
            return None if removal is None else await self._reactions.withdrawn(room_id, removal)
        if ev.type == "m.room.member" and not direct and self._directory.is_known(room_id):
            return events.to_member_joined(room_id, source, ev)
        if polls.is_poll_event(ev.type):  # responses and ends (MSC3381), decrypted or not
            return polls.to_poll_event(room_id, ev)
        return None
