"""Reactions remembered for their withdrawal: a redaction carries neither key nor target.

Only reactions on the bot's own events (a card, a post, a reply) can matter to a
feature, so only those are kept (``core_seen_reactions``).
"""

from __future__ import annotations

import logging

from nio import AsyncClient, RoomGetEventError, RoomGetEventResponse

from bot.clock import Clock
from bot.ids import EventId, RoomId, UserId
from bot.matrix import events
from bot.matrix.sync.checkpoint import RECENT_IN_MEMORY
from bot.storage.database import Database
from bot.storage.models import SeenReaction
from bot.transport import IncomingReaction

log = logging.getLogger(__name__)


class ReactionMemory:
    """Whose events reactions point at, and the reactions on the bot's own."""

    def __init__(self, client: AsyncClient, db: Database, clock: Clock, own: UserId) -> None:
        self._client = client
        self._db = db
        self._clock = clock
        self._own = own
        # Whose events reactions point at: the bot's own (seen in the timeline, or
        # asked of the homeserver once) or someone else's. Bounded like the ledger's
        # recent events.
        self._event_is_own: dict[str, bool] = {}

    def note_sender(self, event_id: str, *, own: bool) -> None:
        self._event_is_own[event_id] = own
        if len(self._event_is_own) > RECENT_IN_MEMORY:
            del self._event_is_own[next(iter(self._event_is_own))]

    async def remember_if_on_own(self, room_id: RoomId, reaction: IncomingReaction) -> None:
        """Keep the reaction when it is on one of the bot's events."""
        if await self._targets_own_event(room_id, reaction.target_event_id):
            await self._remember(room_id, reaction)

    async def withdrawn(self, room_id: RoomId, removal: events.ReactionRemoval) -> IncomingReaction | None:
        """The remembered reaction a redaction withdraws, as a removal; None if unknown."""
        async with self._db.session() as session:
            seen = await session.get(SeenReaction, removal.redacts)
        if seen is None or seen.room_id != room_id:
            return None
        return IncomingReaction(
            event_id=removal.event_id,
            room_id=room_id,
            sender=UserId(seen.sender),
            target_event_id=EventId(seen.target_event_id),
            key=seen.key,
            timestamp=removal.timestamp,
            removed=True,
        )

    async def _targets_own_event(self, room_id: RoomId, target: EventId) -> bool:
        """Whether a reaction is on an event the bot sent (a card, a post, a reply).

        Only those can matter to a feature, so only those are remembered for a later
        withdrawal. The bot's events seen in the timeline of this run are known; for
        another target the homeserver is asked once (a card may be months old). When
        it cannot say, the reaction is kept: a stored row costs less than a lost
        withdrawal.
        """
        known = self._event_is_own.get(target)
        if known is not None:
            return known
        try:
            resp = await self._client.room_get_event(room_id, target)
        except Exception:
            log.warning("could not look up a reaction's target in %s; keeping it", room_id, exc_info=True)
            return True
        if isinstance(resp, RoomGetEventResponse):
            source = getattr(resp.event, "source", None)
            own = isinstance(source, dict) and source.get("sender") == self._own
        elif isinstance(resp, RoomGetEventError) and resp.status_code in ("M_NOT_FOUND", "M_FORBIDDEN"):
            own = False  # gone, or never visible to the bot: nothing of ours
        else:
            log.warning("could not look up a reaction's target in %s (%s); keeping it", room_id, resp)
            return True
        self.note_sender(target, own=own)
        return own

    async def _remember(self, room_id: RoomId, reaction: IncomingReaction) -> None:
        """Keep a reaction's key and target: its later redaction carries neither."""
        async with self._db.transaction() as session:
            await session.execute(
                self._db.insert(SeenReaction)
                .values(
                    event_id=reaction.event_id,
                    room_id=room_id,
                    sender=reaction.sender,
                    target_event_id=reaction.target_event_id,
                    key=reaction.key,
                    seen_at=self._clock.now(),
                )
                .on_conflict_do_nothing(index_elements=["event_id"])
            )
