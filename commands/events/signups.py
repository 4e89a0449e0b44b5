"""What follows a change in who is coming, whatever caused it (a command, a reaction,
a member leaving): the member's confirmation, those who moved up from the waitlist
told, and the card's places brought up to date."""

from __future__ import annotations

from collections.abc import Iterable

from bot.context import Context
from bot.errors import UserError
from bot.ids import UserId
from commands.events.base import find_event
from commands.events.cards import Cards
from commands.events.notify import Notify
from commands.events.records import RsvpOutcome
from commands.events.store import GOING, WAITING, EventStore


class SignUps:
    def __init__(self, store: EventStore, notify: Notify, cards: Cards) -> None:
        self.store = store
        self.notify = notify
        self.cards = cards

    async def answer(
        self, user: UserId, event_id: int, wanted: str, via: str, ctx: Context | None, txn: str
    ) -> RsvpOutcome:
        """Record a member's answer (going, maybe, not going) and what follows from it."""
        outcome = await self.store.answer(event_id, user, wanted, via)
        event = await find_event(self.store, event_id)
        await self.notify.confirm(user, event, outcome, ctx, txn)
        await self.notify.promoted(event, outcome.promoted)
        if outcome.changed:
            await self.cards.refresh_places(event_id)
        return outcome

    async def take_back(self, user: UserId, event_id: int, wanted: str, txn: str) -> None:
        """A reaction taken back: the answer it gave is withdrawn (a waitlist place
        counts as the "going" it asked for)."""
        only = (GOING, WAITING) if wanted == GOING else (wanted,)
        outcome = await self.store.withdraw(event_id, user, only=only)
        if not outcome.changed:
            return
        event = await find_event(self.store, event_id)
        await self.notify.confirm(user, event, outcome, None, txn)
        await self.notify.promoted(event, outcome.promoted)
        await self.cards.refresh_places(event_id)

    async def move_up(self, user: UserId, event_id: int) -> bool:
        """An organiser gives a member on the waitlist a place: they hear it, and the
        card shows the places, as when a place frees up."""
        moved = await self.store.move_up(event_id, user)
        if moved is None:
            return False
        event = await find_event(self.store, event_id)
        await self.notify.promoted(event, (moved,))
        await self.cards.refresh_places(event_id)
        return True

    async def release(self, event_ids: Iterable[int]) -> None:
        """Places given up (by a member who was erased) go to the waitlist."""
        for event_id in event_ids:
            try:
                promoted = await self.store.fill_places(event_id)
            except UserError:
                continue
            event = await self.store.get(event_id)
            if event is not None:
                await self.notify.promoted(event, promoted)
            await self.cards.refresh_places(event_id)
