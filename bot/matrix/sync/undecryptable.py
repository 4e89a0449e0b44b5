"""The undecryptable wait: an encrypted event nio could not read yet waits for its key.

It waits in :class:`~bot.matrix.crypto.PendingDecryptions`, and after every batch
decryption is retried (keys arrive as to-device messages); an event still unreadable
after ``matrix.undecryptable_wait_s`` is claimed like any other and the core tells its
sender once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from bot.clock import Clock
from bot.ids import RoomId
from bot.matrix import events
from bot.matrix.crypto import Crypto, Undecrypted
from bot.matrix.direct_chat_rooms import DirectChats
from bot.matrix.sync.checkpoint import EventLedger
from bot.matrix.undecrypted import WITHHELD_TYPES
from bot.transport import EventHandler, Undecryptable

log = logging.getLogger(__name__)

HandleEvent = Callable[[RoomId, Mapping[str, Any], EventHandler], Awaitable[None]]
"""How a decrypted event is handled: like any event of the timeline."""


class UndecryptableWait:
    """Keeps unreadable events, retries them, and gives up on them in time."""

    def __init__(
        self,
        crypto: Crypto | None,
        ledger: EventLedger,
        direct: DirectChats,
        clock: Clock,
        stop: asyncio.Event,
    ) -> None:
        self._crypto = crypto
        self._ledger = ledger
        self._direct = direct
        self._clock = clock
        self._stop = stop

    async def hold(
        self, room_id: RoomId, source: Mapping[str, Any], ev: events.EventBasics, handler: EventHandler
    ) -> None:
        """nio could not decrypt this event: keep it, ask for its key, retry after each batch."""
        if self._crypto is None or not self._crypto.enabled:
            return
        if self._ledger.known(ev.event_id):
            return
        if await self._ledger.processed_ids([ev.event_id]):
            return
        item = self._crypto.undecrypted(room_id, source, self._clock.now())
        if item is None or not self._crypto.pending.add(item):
            return
        log.info("cannot decrypt %s in %s yet (session %s)", ev.event_id, room_id, item.session_id)
        await self._crypto.request_key(item)
        for old in self._crypto.pending.overflow():
            await self._give_up(old, handler)
        await self._crypto.pending.save()

    def note_withheld(self, to_device: Iterable[Any]) -> None:
        """Remember the room keys members' clients said they withhold (``m.room_key.withheld``).

        nio does not know the type (it arrives as an unknown to-device event); the
        message it belongs to is then explained at once, not after the wait.
        """
        if self._crypto is None or not self._crypto.enabled:
            return
        for event in to_device:
            source = getattr(event, "source", None)
            if not isinstance(source, Mapping) or source.get("type") not in WITHHELD_TYPES:
                continue
            sender, content = source.get("sender"), source.get("content")
            if not isinstance(sender, str) or not isinstance(content, Mapping):
                continue
            code = self._crypto.pending.note_withheld(sender, content)
            if code is not None:
                # Ids and the code only: the free-text "reason" is the client's, not logged.
                log.warning(
                    "room key withheld by %s (device %s) in %s, session %s: %s",
                    sender,
                    content.get("from_device") or content.get("sender_key"),
                    content.get("room_id"),
                    content.get("session_id"),
                    code,
                )

    async def retry(self, handler: EventHandler, handle: HandleEvent) -> None:
        """Handle waiting events whose keys arrived; explain the ones that waited too long.

        An entry leaves the durable list only after it was handled, so a crash in between
        retries it, and the claim in ``core_processed_events`` keeps it exactly-once.
        """
        if self._crypto is None or not self._crypto.pending.items:
            return
        pending = self._crypto.pending
        now = self._clock.now()
        for item in list(pending.items.values()):
            if self._stop.is_set():
                break
            decrypted = self._crypto.try_decrypt(item)
            if decrypted is not None:
                log.info("decrypted %s after its room key arrived", item.event_id)
                await handle(RoomId(item.room_id), decrypted, handler)
                pending.remove(item.event_id)
                pending.key_arrived(item)
            elif (code := pending.withheld_code(item)) is not None:
                # The member's client said it will not send the key: no use waiting.
                await self._give_up(item, handler, withheld=code)
            elif pending.expired(item, now):
                await self._give_up(item, handler)
        await pending.save()

    async def _give_up(self, item: Undecrypted, handler: EventHandler, withheld: str | None = None) -> None:
        """Claim an event that stayed unreadable and let the core tell its sender, once
        per session (the adapter reports; what the member reads is the core's)."""
        assert self._crypto is not None
        self._crypto.pending.remove(item.event_id)
        ev = events.basics(item.source)
        if ev is None or not await self._ledger.claim(RoomId(item.room_id), ev):
            return
        log.warning("could not decrypt %s in %s; telling the sender", ev.event_id, item.room_id)
        status = "done"
        try:
            if self._crypto.pending.first_notice(item):
                await handler(self._report(item, ev, withheld))
        except Exception:
            status = "failed"
            log.exception("telling the sender of %s that it was unreadable failed", ev.event_id)
        self._ledger.finish(ev.event_id, status)
        self._ledger.checkpoint_soon()

    def _report(self, item: Undecrypted, ev: events.EventBasics, withheld: str | None) -> Undecryptable:
        room_id = RoomId(item.room_id)
        return Undecryptable(
            event_id=ev.event_id,
            room_id=room_id,
            sender=ev.sender,
            timestamp=ev.timestamp,
            is_direct=self._direct.is_direct_cached(room_id),
            withheld=withheld,
        )
