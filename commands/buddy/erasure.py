"""Erasing a member: requests waiting on them move on, their partners hear kindly."""

from __future__ import annotations

from bot.ids import UserId
from commands.buddy.checkins import CheckinJobs
from commands.buddy.rounds import MatchingRounds, offer_job_id
from commands.buddy.state import BuddyState
from commands.buddy.statuses import CANCELLED, WITHDRAWN


class BuddyErasure:
    def __init__(self, state: BuddyState, rounds: MatchingRounds, checkins: CheckinJobs) -> None:
        self._state = state
        self._rounds = rounds
        self._checkins = checkins

    async def erase_member(self, user_id: UserId) -> int:
        """Erase the member; requests waiting on them move on, partners hear kindly."""
        moved = await self._withdraw_offers_to(user_id)
        await self._cancel_requests_of(user_id)
        await self._end_pairs_of(user_id)
        removed = await self._state.store.erase_member(user_id)
        # The requests they held up move on once the member's rows are gone, so no round
        # can pick them again.
        for request_id, offer_id in moved:
            await self._rounds.move_on(request_id, offer_id)
        return removed

    async def _withdraw_offers_to(self, user_id: UserId) -> list[tuple[int, int]]:
        """Offers waiting on the member, withdrawn: (request, offer) of each."""
        store, scheduler = self._state.store, self._state.services.scheduler
        moved: list[tuple[int, int]] = []
        for offer in await store.pending_offers():
            if offer.candidate_id == user_id:
                request_id = await store.close_offer(offer.id, WITHDRAWN)
                await scheduler.cancel(offer_job_id(offer.id))
                if request_id is not None:
                    moved.append((request_id, offer.id))
        return moved

    async def _cancel_requests_of(self, user_id: UserId) -> None:
        store, scheduler = self._state.store, self._state.services.scheduler
        for request in await store.requests_of(user_id):
            pending = await store.pending_offer(request.id)
            if pending is not None:
                await store.close_offer(pending.id, WITHDRAWN)
                await scheduler.cancel(offer_job_id(pending.id))
            await store.finish_request(request.id, CANCELLED)

    async def _end_pairs_of(self, user_id: UserId) -> None:
        store = self._state.store
        for pair in await store.pairs_of(user_id, active_only=True):
            await self._checkins.cancel(pair.id)
            other = pair.member_b if pair.member_a == user_id else pair.member_a
            if other and await store.end_pair(pair.id):
                await self._state.services.members.tell(
                    UserId(other), "buddy.stop.partner_left", txn_id=f"buddy.left.{pair.id}", number=pair.id
                )
