"""Database access of the buddy feature; every method is one unit of work.

State changes that must happen once (an offer answered, a pair made, a pair ended)
are conditional updates: the first caller wins, a replay or a racing timer finds the
row changed and does nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.clock import Clock
from bot.storage import Database
from bot.storage.results import rowcount
from commands.buddy.member_rows import MemberRows
from commands.buddy.models import (
    BuddyAvailability,
    BuddyBlock,
    BuddyCheckin,
    BuddyOffer,
    BuddyPair,
    BuddyRequest,
)
from commands.buddy.statuses import ACCEPTED, ACTIVE, ENDED, EXHAUSTED, MATCHED, PENDING, SEARCHING
from commands.stats.sources import StatCount


@dataclass(frozen=True)
class Availability:
    user_id: str
    available: bool
    max_pairs: int
    paused_until: date | None


class BuddyStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._member_rows = MemberRows(db, clock)

    # -- availability ------------------------------------------------------------------

    async def availability(self, user_id: str) -> Availability | None:
        async with self._db.session() as session:
            row = await session.get(BuddyAvailability, user_id)
        if row is None:
            return None
        return Availability(row.user_id, bool(row.available), row.max_pairs, row.paused_until)

    async def set_availability(
        self,
        user_id: str,
        *,
        available: bool | None = None,
        max_pairs: int | None = None,
        paused_until: date | bool | None = False,
        default_max: int = 1,
    ) -> Availability:
        """Change what is given; ``paused_until=False`` leaves the pause alone."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            row = await session.get(BuddyAvailability, user_id)
            if row is None:
                row = BuddyAvailability(
                    user_id=user_id, available=False, max_pairs=default_max, paused_until=None, updated_at=now
                )
                session.add(row)
            if available is not None:
                row.available = available
            if max_pairs is not None:
                row.max_pairs = max_pairs
            if paused_until is not False:
                row.paused_until = paused_until if isinstance(paused_until, date) else None
            row.updated_at = now
            await session.flush()
            return Availability(row.user_id, bool(row.available), row.max_pairs, row.paused_until)

    async def available_members(self) -> list[Availability]:
        async with self._db.session() as session:
            rows = (
                await session.scalars(select(BuddyAvailability).where(BuddyAvailability.available.is_(True)))
            ).all()
        return [Availability(r.user_id, True, r.max_pairs, r.paused_until) for r in rows]

    # -- blocks ------------------------------------------------------------------------

    async def block(self, user_id: str, blocked: str) -> bool:
        """True when newly blocked."""
        try:
            async with self._db.transaction() as session:
                exists = await session.scalar(
                    select(BuddyBlock.id).where(
                        BuddyBlock.user_id == user_id, BuddyBlock.blocked_id == blocked
                    )
                )
                if exists is not None:
                    return False
                session.add(BuddyBlock(user_id=user_id, blocked_id=blocked, created_at=self._clock.now()))
        except IntegrityError:
            return False
        return True

    async def unblock(self, user_id: str, blocked: str) -> bool:
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(BuddyBlock).where(BuddyBlock.user_id == user_id, BuddyBlock.blocked_id == blocked)
            )
        return rowcount(result) > 0

    async def blocked_either_way(self, user_id: str) -> set[str]:
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(BuddyBlock.user_id, BuddyBlock.blocked_id).where(
                        or_(BuddyBlock.user_id == user_id, BuddyBlock.blocked_id == user_id)
                    )
                )
            ).all()
        return {blocked if owner == user_id else owner for owner, blocked in rows}

    # -- requests ----------------------------------------------------------------------

    async def open_request(self, user_id: str) -> BuddyRequest | None:
        async with self._db.session() as session:
            return await session.scalar(
                select(BuddyRequest)
                .where(BuddyRequest.requester_id == user_id, BuddyRequest.status == SEARCHING)
                .order_by(BuddyRequest.id.desc())
                .limit(1)
            )

    async def create_request(
        self, user_id: str, criteria: dict[str, Any], topic: str | None, source_event: str
    ) -> tuple[int, bool]:
        """The request's id and whether it is new (a replayed event finds the first)."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            existing = await session.scalar(
                select(BuddyRequest.id).where(BuddyRequest.source_event == source_event)
            )
            if existing is not None:
                return int(existing), False
            row = BuddyRequest(
                requester_id=user_id,
                status=SEARCHING,
                criteria=criteria,
                topic=topic,
                source_event=source_event,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            return int(row.id), True

    async def request(self, request_id: int) -> BuddyRequest | None:
        async with self._db.session() as session:
            return await session.get(BuddyRequest, request_id)

    async def requests_of(self, user_id: str) -> list[BuddyRequest]:
        async with self._db.session() as session:
            return list(
                (
                    await session.scalars(
                        select(BuddyRequest)
                        .where(BuddyRequest.requester_id == user_id)
                        .order_by(BuddyRequest.id)
                    )
                ).all()
            )

    async def searching_requests(self) -> list[int]:
        async with self._db.session() as session:
            return [
                int(i)
                for i in (
                    await session.scalars(select(BuddyRequest.id).where(BuddyRequest.status == SEARCHING))
                ).all()
            ]

    async def exhausted_since(self, since: datetime) -> list[int]:
        """Requests that found nobody and ended after ``since``, oldest first."""
        async with self._db.session() as session:
            rows = await session.scalars(
                select(BuddyRequest.id)
                .where(BuddyRequest.status == EXHAUSTED, BuddyRequest.updated_at >= since)
                .order_by(BuddyRequest.id)
            )
            return [int(i) for i in rows.all()]

    async def reopen(self, request_id: int) -> bool:
        """Exhausted -> searching, unless the requester searches again already."""
        async with self._db.transaction() as session:
            request = await session.get(BuddyRequest, request_id)
            if request is None or request.status != EXHAUSTED or not request.requester_id:
                return False
            other = await session.scalar(
                select(BuddyRequest.id).where(
                    BuddyRequest.requester_id == request.requester_id, BuddyRequest.status == SEARCHING
                )
            )
            if other is not None:
                return False
            request.status = SEARCHING
            request.updated_at = self._clock.now()
        return True

    async def finish_request(self, request_id: int, status: str) -> bool:
        """Searching -> ``status`` (exhausted, cancelled); True for the one caller that did it."""
        async with self._db.transaction() as session:
            result = await session.execute(
                update(BuddyRequest)
                .where(BuddyRequest.id == request_id, BuddyRequest.status == SEARCHING)
                .values(status=status, updated_at=self._clock.now())
                .execution_options(synchronize_session=False)
            )
        return rowcount(result) > 0

    # -- offers ------------------------------------------------------------------------

    async def offered_candidates(self, request_id: int) -> list[str]:
        async with self._db.session() as session:
            rows = (
                await session.scalars(
                    select(BuddyOffer.candidate_id).where(BuddyOffer.request_id == request_id)
                )
            ).all()
        return [r for r in rows if r]

    async def offer_count(self, request_id: int) -> int:
        async with self._db.session() as session:
            return int(
                await session.scalar(
                    select(func.count()).select_from(BuddyOffer).where(BuddyOffer.request_id == request_id)
                )
                or 0
            )

    async def pending_offer(self, request_id: int) -> BuddyOffer | None:
        async with self._db.session() as session:
            return await session.scalar(
                select(BuddyOffer).where(BuddyOffer.request_id == request_id, BuddyOffer.status == PENDING)
            )

    async def stats(self, since: datetime, until: datetime) -> list[StatCount]:
        """Requests, matches and check-in answers in the period (counts only)."""
        async with self._db.session() as session:
            requests = await session.scalar(
                select(func.count())
                .select_from(BuddyRequest)
                .where(BuddyRequest.created_at >= since, BuddyRequest.created_at < until)
            )
            pairs = await session.scalar(
                select(func.count())
                .select_from(BuddyPair)
                .where(BuddyPair.started_at >= since, BuddyPair.started_at < until)
            )
            answers = (
                await session.execute(
                    select(BuddyCheckin.answer, func.count())
                    .where(BuddyCheckin.answered_at >= since, BuddyCheckin.answered_at < until)
                    .group_by(BuddyCheckin.answer)
                )
            ).all()
        counts = [
            StatCount("buddy_requests", None, int(requests or 0)),
            StatCount("buddy_matches", None, int(pairs or 0)),
        ]
        counts += [StatCount(f"buddy_checkin_{answer}", None, int(n)) for answer, n in sorted(answers)]
        return counts

    async def pending_offers(self) -> list[BuddyOffer]:
        async with self._db.session() as session:
            return list((await session.scalars(select(BuddyOffer).where(BuddyOffer.status == PENDING))).all())

    async def offer_to(self, candidate: str, request_id: int) -> BuddyOffer | None:
        """The latest offer of request ``request_id`` to ``candidate``: a candidate types the
        request's number, the same one the requester sees."""
        async with self._db.session() as session:
            return await session.scalar(
                select(BuddyOffer)
                .where(BuddyOffer.request_id == request_id, BuddyOffer.candidate_id == candidate)
                .order_by(BuddyOffer.id.desc())
                .limit(1)
            )

    async def offer(self, offer_id: int) -> BuddyOffer | None:
        async with self._db.session() as session:
            return await session.get(BuddyOffer, offer_id)

    async def create_offer(self, request_id: int, candidate: str, score: int) -> int | None:
        """The claim: a new pending offer, only while the request searches and has none."""
        async with self._db.transaction() as session:
            request = await session.get(BuddyRequest, request_id)
            if request is None or request.status != SEARCHING:
                return None
            pending = await session.scalar(
                select(BuddyOffer.id).where(BuddyOffer.request_id == request_id, BuddyOffer.status == PENDING)
            )
            if pending is not None:
                return None
            row = BuddyOffer(
                request_id=request_id,
                candidate_id=candidate,
                status=PENDING,
                score=score,
                offered_at=self._clock.now(),
                answered_at=None,
            )
            session.add(row)
            await session.flush()
            return int(row.id)

    async def close_offer(self, offer_id: int, status: str, candidate: str | None = None) -> int | None:
        """Pending -> ``status`` (refused, expired, withdrawn); the request id if this call did it."""
        conditions = [BuddyOffer.id == offer_id, BuddyOffer.status == PENDING]
        if candidate is not None:
            conditions.append(BuddyOffer.candidate_id == candidate)
        async with self._db.transaction() as session:
            request_id = await session.scalar(select(BuddyOffer.request_id).where(*conditions))
            if request_id is None:
                return None
            result = await session.execute(
                update(BuddyOffer)
                .where(*conditions)
                .values(status=status, answered_at=self._clock.now())
                .execution_options(synchronize_session=False)
            )
        return int(request_id) if rowcount(result) else None

    async def accept_offer(self, offer_id: int, candidate: str) -> int | None:
        """The offer accepted, the request matched and the pair made, all at once.

        Returns the pair's id; a repeat by the same candidate returns the same pair.
        """
        now = self._clock.now()
        async with self._db.transaction() as session:
            offer = await session.get(BuddyOffer, offer_id)
            if offer is None or offer.candidate_id != candidate:
                return None
            if offer.status == ACCEPTED:
                return await session.scalar(
                    select(BuddyPair.id).where(BuddyPair.request_id == offer.request_id)
                )
            if offer.status != PENDING:
                return None
            request = await session.get(BuddyRequest, offer.request_id)
            if request is None or request.status != SEARCHING or request.requester_id is None:
                return None
            offer.status, offer.answered_at = ACCEPTED, now
            request.status, request.updated_at = MATCHED, now
            pair = BuddyPair(
                request_id=request.id,
                member_a=request.requester_id,
                member_b=candidate,
                status=ACTIVE,
                room_alias=f"kb-buddy-{secrets.token_hex(6)}",
                room_id=None,
                started_at=now,
                ended_at=None,
            )
            session.add(pair)
            await session.flush()
            return int(pair.id)

    # -- pairs -------------------------------------------------------------------------

    async def pair(self, pair_id: int) -> BuddyPair | None:
        async with self._db.session() as session:
            return await session.get(BuddyPair, pair_id)

    async def pairs_of(self, user_id: str, *, active_only: bool = False) -> list[BuddyPair]:
        conditions = [or_(BuddyPair.member_a == user_id, BuddyPair.member_b == user_id)]
        if active_only:
            conditions.append(BuddyPair.status == ACTIVE)
        async with self._db.session() as session:
            return list(
                (await session.scalars(select(BuddyPair).where(*conditions).order_by(BuddyPair.id))).all()
            )

    async def active_pairs(self) -> list[BuddyPair]:
        async with self._db.session() as session:
            return list((await session.scalars(select(BuddyPair).where(BuddyPair.status == ACTIVE))).all())

    async def previous_partners(self, user_id: str) -> set[str]:
        partners: set[str] = set()
        for pair in await self.pairs_of(user_id):
            other = pair.member_b if pair.member_a == user_id else pair.member_a
            if other:
                partners.add(other)
        return partners

    async def set_room(self, pair_id: int, room_id: str) -> None:
        async with self._db.transaction() as session:
            pair = await session.get(BuddyPair, pair_id)
            if pair is not None and pair.room_id is None:
                pair.room_id = room_id

    async def end_pair(self, pair_id: int) -> bool:
        async with self._db.transaction() as session:
            result = await session.execute(
                update(BuddyPair)
                .where(BuddyPair.id == pair_id, BuddyPair.status == ACTIVE)
                .values(status=ENDED, ended_at=self._clock.now())
                .execution_options(synchronize_session=False)
            )
        return rowcount(result) > 0

    async def record_checkin(self, pair_id: int, round_number: int, user_id: str, answer: str) -> None:
        now = self._clock.now()
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(BuddyCheckin).where(
                    BuddyCheckin.pair_id == pair_id,
                    BuddyCheckin.round == round_number,
                    BuddyCheckin.user_id == user_id,
                )
            )
            if row is None:
                session.add(
                    BuddyCheckin(
                        pair_id=pair_id, round=round_number, user_id=user_id, answer=answer, answered_at=now
                    )
                )
            else:
                row.answer, row.answered_at = answer, now

    # -- privacy (the work is in ``member_rows``) ---------------------------------------

    async def export_member(self, user_id: str) -> dict[str, Any]:
        """What the buddy tables hold about the member, as they may see it."""
        return await self._member_rows.export_member(user_id)

    async def erase_member(self, user_id: str) -> int:
        """Remove the member's own rows; anonymise their side of pairs and offers."""
        return await self._member_rows.erase_member(user_id)
