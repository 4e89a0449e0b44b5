"""Answering with a reaction on the card: ✅ going, 🤔 maybe, ❌ not going; taking the
reaction back withdraws."""

from __future__ import annotations

from bot.errors import UserError
from bot.registry import listener
from bot.transport import IncomingReaction
from commands.events.base import EventsBase
from commands.events.jobs import short_hash
from commands.events.store import GOING, MAYBE, NOT_GOING

REACTIONS = {"✅": GOING, "✔": GOING, "👍": GOING, "🤔": MAYBE, "❌": NOT_GOING, "👎": NOT_GOING}


def reaction_key(key: str) -> str:
    """The emoji without its variation selector, as clients send either."""
    return key.replace("\ufe0f", "").strip()


class ReactionListener(EventsBase):
    @listener(IncomingReaction)
    async def on_reaction(self, reaction: IncomingReaction) -> None:
        """A reaction on an event's card is the member's answer."""
        if reaction.sender == self.services.transport.own_user_id:
            return
        wanted = REACTIONS.get(reaction_key(reaction.key))
        if wanted is None:
            return
        event_id = await self.store.by_card(reaction.target_event_id)
        if event_id is None:
            return
        user = reaction.sender
        txn = f"ev.react.{short_hash(reaction.event_id)}"
        try:
            if reaction.removed:
                await self.signups.take_back(user, event_id, wanted, txn)
            else:
                await self.signups.answer(user, event_id, wanted, "reaction", None, txn)
        except UserError as error:
            # No command to answer: the member reads it in their DM (under the id this
            # listener always used, not the router's).
            await self.services.members.tell_error(user, error, txn_id=f"{txn}.error")
