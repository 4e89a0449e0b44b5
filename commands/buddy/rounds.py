"""Matching rounds: a request is offered to one candidate at a time.

An offer carries its own timeout job (``buddy:offer-timeout:<offer>``); a refusal or a
timeout moves the request to the next candidate until nobody suitable is left.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

from bot.formatting import Markup
from bot.ids import UserId
from commands.buddy.matching import BuddyQuery, Candidate, CandidatePool
from commands.buddy.models import BuddyOffer, BuddyRequest
from commands.buddy.state import BuddyState
from commands.buddy.statuses import ACTIVE, EXHAUSTED, EXPIRED, SEARCHING
from commands.buddy.text import BuddyText
from commands.introductions.records import ProfileRecord

OFFER_TIMEOUT_KIND = "buddy:offer-timeout"

# What one round came to.
OFFERED = "offered"
NOBODY = "nobody"
NOTHING = "nothing"


RETRY_WINDOW = timedelta(days=30)
"""A request that found nobody is tried again, for this long, when a member becomes available."""


def offer_job_id(offer_id: int) -> str:
    return f"{OFFER_TIMEOUT_KIND}:{offer_id}"


class MatchingRounds:
    def __init__(self, state: BuddyState, text: BuddyText) -> None:
        self._state = state
        self._store = state.store
        self._text = text
        # Matching one request at a time keeps two requests from both picking the last
        # free place of one candidate; the database claims decide everything else.
        self._matching = asyncio.Lock()

    async def resume(self) -> None:
        """Re-arm offers and requests a stop may have left half done; safe to repeat."""
        for offer in await self._store.pending_offers():
            await self.arm(offer)
        for request_id in await self._store.searching_requests():
            await self.advance(request_id, notify=True)

    async def advance(self, request_id: int, *, notify: bool) -> str:
        """Offer the request to the best candidate not asked yet; or say nobody is left."""
        async with self._matching:
            request = await self._store.request(request_id)
            if request is None or request.status != SEARCHING or not request.requester_id:
                return NOTHING
            if await self._store.pending_offer(request_id) is not None:
                return NOTHING
            best = []
            if await self._store.offer_count(request_id) < self._state.settings.max_offers:
                profile = await self._state.profiles.get(request.requester_id)
                best = (await self._pool()).rank(await self._query(request, profile), limit=1)
            if not best:
                if await self._store.finish_request(request_id, EXHAUSTED) and notify:
                    await self._tell_exhausted(request)
                return NOBODY
            offer_id = await self._store.create_offer(request_id, best[0].user_id, best[0].score)
            if offer_id is None:
                return NOTHING
            offer = await self._store.offer(offer_id)
        if offer is not None:
            await self.arm(offer)
        return OFFERED

    async def retry_exhausted(self, candidate: str) -> None:
        """A member became available: every recent request that found nobody is tried
        again, and its requester told when someone is asked. One that still finds
        nobody goes back to exhausted without a second message."""
        since = self._state.services.clock.now() - RETRY_WINDOW
        for request_id in await self._store.exhausted_since(since):
            request = await self._store.request(request_id)
            if request is None or request.requester_id in (None, candidate):
                continue
            if not await self._store.reopen(request_id):
                continue
            if await self.advance(request_id, notify=False) == OFFERED:
                await self._state.services.members.tell(
                    UserId(request.requester_id or ""),
                    "buddy.request.retried",
                    txn_id=f"buddy.retried.{request_id}.{await self._store.offer_count(request_id)}",
                    number=request_id,
                    days=self._state.offer_days(),
                )

    async def _tell_exhausted(self, request: BuddyRequest) -> None:
        requester = request.requester_id or ""
        language = await self._state.services.members.language_of(UserId(requester))
        await self._state.services.members.tell(
            UserId(requester),
            "buddy.request.exhausted",
            txn_id=f"buddy.exhausted.{request.id}",
            number=request.id,
            hint=await self.hint(language, request),
        )

    async def arm(self, offer: BuddyOffer) -> None:
        """The offer's timeout job and its DM to the candidate; safe to repeat."""
        request = await self._store.request(offer.request_id)
        if request is None or not request.requester_id or not offer.candidate_id:
            return
        await self._state.services.scheduler.schedule_once(
            offer_job_id(offer.id),
            OFFER_TIMEOUT_KIND,
            offer.offered_at + self._state.settings.offer_timeout,
            {"offer_id": offer.id},
            replace=False,
        )
        profile = await self._state.profiles.get(request.requester_id)
        requester, topic = request.requester_id, request.topic
        await self._state.services.members.tell(
            UserId(offer.candidate_id),
            "buddy.offer.ask",
            txn_id=f"buddy.offer.{offer.id}",
            # The request's number: the requester knows it by the same one.
            number=request.id,
            summary=lambda language: self._text.summary(language, profile, requester),
            topic=lambda language: self._text.offer_topic(language, topic),
            days=self._state.offer_days(),
        )

    async def timed_out(self, job_id: str, payload: dict[str, Any]) -> None:
        """The offer's timeout job: the candidate did not answer in time."""
        offer_id = int(payload["offer_id"])
        request_id = await self._store.close_offer(offer_id, EXPIRED)
        if request_id is not None:
            await self.move_on(request_id, offer_id)

    async def move_on(self, request_id: int, offer_id: int) -> None:
        """After a refusal or a timeout: the next candidate, and a word to the requester."""
        if await self.advance(request_id, notify=True) != OFFERED:
            return
        request = await self._store.request(request_id)
        if request is not None and request.requester_id:
            await self._state.services.members.tell(
                UserId(request.requester_id),
                "buddy.request.moved",
                txn_id=f"buddy.moved.{offer_id}",
                number=request_id,
                days=self._state.offer_days(),
            )

    async def hint(self, language: str, request: BuddyRequest) -> Markup:
        """What to loosen: the hard filter whose removal finds someone, else ask a question."""
        catalogue = self._state.services.catalogue
        profile = await self._state.profiles.get(request.requester_id or "")
        base = await self._query(request, profile)
        pool = await self._pool()
        for name in ("professions", "experience"):
            if getattr(base, name):
                empty: dict[str, Any] = {name: frozenset()}
                looser = dataclasses.replace(base, **empty)
                # Everyone already asked stays excluded: they had their chance.
                if pool.rank(looser, limit=1):
                    return catalogue.fragment(
                        language, "buddy.hint.drop", filter=catalogue.plain(language, f"buddy.filter.{name}")
                    )
        return catalogue.fragment(language, "buddy.hint.ask")

    async def _load(self) -> dict[str, int]:
        """How many running pairs and open offers each member has."""
        load: dict[str, int] = {}
        for pair in await self._store.active_pairs():
            for member in (pair.member_a, pair.member_b):
                if member:
                    load[member] = load.get(member, 0) + 1
        for offer in await self._store.pending_offers():
            if offer.candidate_id:
                load[offer.candidate_id] = load.get(offer.candidate_id, 0) + 1
        return load

    async def _pool(self) -> CandidatePool:
        load = await self._load()
        candidates = []
        # One query for the listed profiles; an available member who is not listed
        # (rare) is read on their own.
        listed = {record.user_id: record for record in await self._state.profiles.listed()}
        for state in await self._store.available_members():
            profile = listed.get(state.user_id) or await self._state.profiles.get(state.user_id)
            if profile is None:
                continue
            candidates.append(
                Candidate(
                    user_id=profile.user_id,
                    profession=profile.profession,
                    experience=profile.experience,
                    region=profile.region,
                    themes=frozenset(profile.themes),
                    days=frozenset(profile.meet_days or profile.work_days),
                    active_pairs=load.get(profile.user_id, 0),
                    max_pairs=state.max_pairs,
                    paused_until=state.paused_until,
                )
            )
        return CandidatePool(candidates)

    async def _excluded(self, request: BuddyRequest) -> frozenset[str]:
        """Already asked, blocked either way, a running partner, or (unless ``again``) a former one."""
        requester = request.requester_id or ""
        excluded = set(await self._store.offered_candidates(request.id))
        excluded |= await self._store.blocked_either_way(requester)
        for pair in await self._store.pairs_of(requester):
            other = pair.member_b if pair.member_a == requester else pair.member_a
            if other and (pair.status == ACTIVE or not request.criteria.get("again")):
                excluded.add(other)
        return frozenset(excluded)

    async def _query(self, request: BuddyRequest, profile: ProfileRecord | None) -> BuddyQuery:
        c = request.criteria
        return BuddyQuery(
            requester=request.requester_id or "",
            requester_profession=profile.profession if profile else None,
            requester_experience=profile.experience if profile else None,
            requester_region=profile.region if profile else None,
            requester_themes=frozenset(profile.themes) if profile else frozenset(),
            requester_days=frozenset(profile.meet_days or profile.work_days) if profile else frozenset(),
            professions=frozenset(c.get("professions") or ()),
            experience=frozenset(c.get("experience") or ()),
            regions=frozenset(c.get("regions") or ()),
            days=frozenset(c.get("days") or ()),
            themes=frozenset(c.get("themes") or ()),
            cross_profession=bool(c.get("cross")),
            excluded=await self._excluded(request),
            today=self._state.today(),
        )
