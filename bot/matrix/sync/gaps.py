"""Backlog catch-up: a ``limited`` timeline is completed with ``/messages``.

A sync after a pause hands out only the newest ``timeline_limit`` events of a room;
the ones between the last batch seen and those are fetched backwards, page by page,
up to what was already handled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from nio import AsyncClient, MessageDirection, RoomMessagesResponse

from bot.errors import TransportError
from bot.ids import RoomId, UserId
from bot.matrix import events
from bot.matrix.homeserver_calls import request
from bot.matrix.sync.checkpoint import EventLedger

log = logging.getLogger(__name__)

#: Gap filling: pages of this many events, at most this many pages per room per batch.
GAP_PAGE_SIZE = 100
GAP_MAX_PAGES = 10
#: Gap filling stops at events this much older than the last checkpoint (clock skew).
GAP_MARGIN = timedelta(minutes=5)


def raw_sources(nio_events: Sequence[Any]) -> list[Mapping[str, Any]]:
    """The raw JSON of nio's parsed events (room events keep their full source)."""
    return [e.source for e in nio_events if isinstance(getattr(e, "source", None), dict)]


class GapFiller:
    """Fetches the events a ``limited`` timeline left out."""

    def __init__(
        self, client: AsyncClient, own: UserId, ledger: EventLedger, cutoff: Callable[[], datetime]
    ) -> None:
        self._client = client
        self._own = own
        self._ledger = ledger
        self._cutoff = cutoff

    async def fill(self, room_id: RoomId, prev_batch: str) -> list[Mapping[str, Any]]:
        """Events between the last batch we saw and a ``limited`` timeline, oldest first.

        Walks ``/messages`` backwards from ``prev_batch`` until an event that was already
        processed, an event older than the last checkpoint (or the catch-up window), the
        bot's own arrival in the room, or ``GAP_MAX_PAGES`` pages.
        """
        floor = self._floor()
        collected: list[Mapping[str, Any]] = []
        token = prev_batch
        reached = False
        for _page in range(GAP_MAX_PAGES):
            resp = await self._page(room_id, token)
            chunk = raw_sources(resp.chunk)  # newest first
            reached = await self._collect(chunk, floor, collected)
            if reached or not chunk or not resp.end or resp.end == token:
                reached = True
                break
            token = resp.end
        if not reached:
            log.warning(
                "the gap in %s is longer than %d events; older events were skipped", room_id, len(collected)
            )
        collected.reverse()
        log.info("filled a timeline gap of %d events in %s", len(collected), room_id)
        return collected

    def _floor(self) -> datetime:
        floor = self._cutoff()
        checkpoint_at = self._ledger.checkpoint_at
        if checkpoint_at is not None:
            floor = max(floor, checkpoint_at - GAP_MARGIN)
        return floor

    async def _page(self, room_id: RoomId, token: str) -> RoomMessagesResponse:
        resp = await request(
            partial(
                self._client.room_messages,
                room_id,
                start=token,
                direction=MessageDirection.back,
                limit=GAP_PAGE_SIZE,
            ),
            f"filling the timeline gap in {room_id}",
        )
        if not isinstance(resp, RoomMessagesResponse):
            raise TransportError(f"filling the timeline gap in {room_id} failed")
        return resp

    async def _collect(
        self, chunk: list[Mapping[str, Any]], floor: datetime, collected: list[Mapping[str, Any]]
    ) -> bool:
        """Add the page's events (newest first) to ``collected`` until one that is
        already known or too old; True when such an event ends the gap."""
        seen = await self._ledger.processed_ids([s.get("event_id") for s in chunk])
        for source in chunk:
            moment = events.timestamp_of(source.get("origin_server_ts"))
            if (
                source.get("event_id") in seen
                or events.is_own_arrival(source, self._own)
                or (moment is not None and moment < floor)
            ):
                return True
            collected.append(source)
        return False
