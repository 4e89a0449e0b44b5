"""One member's rows in the buddy tables: the export they may read, and the erasing
(their own rows removed, their side of pairs and offers anonymised)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.storage import Database
from bot.storage.results import rowcount
from commands.buddy.models import (
    BuddyAvailability,
    BuddyBlock,
    BuddyCheckin,
    BuddyOffer,
    BuddyPair,
    BuddyRequest,
)
from commands.buddy.statuses import ACTIVE, ENDED, WITHDRAWN


class MemberRows:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def export_member(self, user_id: str) -> dict[str, Any]:
        """What the buddy tables hold about the member, as they may see it."""
        rows = await self._rows_of(user_id)
        data: dict[str, Any] = {}
        if rows.availability is not None:
            data["availability"] = _export_availability(rows.availability)
        if rows.blocks:
            # Your own list: you may see whom you blocked; nobody sees who blocked them.
            data["blocked"] = [b.blocked_id for b in rows.blocks]
        if rows.requests:
            data["requests"] = [_export_request(r) for r in rows.requests]
        if rows.offers:
            data["asked_to_be_buddy"] = [_export_offer(o) for o in rows.offers]
        if rows.pairs:
            data["pairs"] = [_export_pair(p, user_id) for p in rows.pairs]
        if rows.checkins:
            data["checkins"] = [_export_checkin(c) for c in rows.checkins]
        return data

    async def _rows_of(self, user_id: str) -> _MemberRows:
        """The member's rows in every buddy table, read in one session."""
        async with self._db.session() as session:
            return _MemberRows(
                availability=await session.get(BuddyAvailability, user_id),
                blocks=(await session.scalars(select(BuddyBlock).where(BuddyBlock.user_id == user_id))).all(),
                requests=(
                    await session.scalars(select(BuddyRequest).where(BuddyRequest.requester_id == user_id))
                ).all(),
                offers=(
                    await session.scalars(select(BuddyOffer).where(BuddyOffer.candidate_id == user_id))
                ).all(),
                pairs=(
                    await session.scalars(
                        select(BuddyPair).where(
                            or_(BuddyPair.member_a == user_id, BuddyPair.member_b == user_id)
                        )
                    )
                ).all(),
                checkins=(
                    await session.scalars(select(BuddyCheckin).where(BuddyCheckin.user_id == user_id))
                ).all(),
            )

    async def erase_member(self, user_id: str) -> int:
        """Remove the member's own rows; anonymise their side of pairs and offers. One
        transaction: a member is erased entirely or not at all."""
        async with self._db.transaction() as session:
            return (
                await _delete_own_rows(session, user_id)
                + await _delete_requests(session, user_id)
                + await _anonymise_offers(session, user_id)
                + await _anonymise_pairs(session, user_id, self._clock.now())
            )


# -- erasing a member, in the order erase_member runs them -----------------------------


async def _delete_own_rows(session: AsyncSession, user_id: str) -> int:
    """Availability, blocks either way, check-in answers."""
    removed = 0
    for statement in (
        delete(BuddyAvailability).where(BuddyAvailability.user_id == user_id),
        delete(BuddyBlock).where(or_(BuddyBlock.user_id == user_id, BuddyBlock.blocked_id == user_id)),
        delete(BuddyCheckin).where(BuddyCheckin.user_id == user_id),
    ):
        removed += rowcount(await session.execute(statement.execution_options(synchronize_session=False)))
    return removed


async def _delete_requests(session: AsyncSession, user_id: str) -> int:
    """Their requests go, with the offers made for them; a pair made from one stays for
    the partner (anonymised by :func:`_anonymise_pairs`)."""
    own = list(
        (await session.scalars(select(BuddyRequest.id).where(BuddyRequest.requester_id == user_id))).all()
    )
    if not own:
        return 0
    removed = rowcount(await session.execute(delete(BuddyOffer).where(BuddyOffer.request_id.in_(own))))
    removed += rowcount(await session.execute(delete(BuddyRequest).where(BuddyRequest.id.in_(own))))
    await session.execute(
        update(BuddyPair)
        .where(BuddyPair.request_id.in_(own))
        .values(request_id=None)
        .execution_options(synchronize_session=False)
    )
    return removed


async def _anonymise_offers(session: AsyncSession, user_id: str) -> int:
    """Offers made to them stay for the requesters' counts, without their name."""
    return rowcount(
        await session.execute(
            update(BuddyOffer)
            .where(BuddyOffer.candidate_id == user_id)
            .values(candidate_id=None, status=WITHDRAWN)
            .execution_options(synchronize_session=False)
        )
    )


async def _anonymise_pairs(session: AsyncSession, user_id: str, now: datetime) -> int:
    """Their running pairs end now; every pair keeps the partner's side only."""
    removed = 0
    for column in (BuddyPair.member_a, BuddyPair.member_b):
        removed += rowcount(
            await session.execute(
                update(BuddyPair)
                .where(column == user_id, BuddyPair.status == ACTIVE)
                .values(status=ENDED, ended_at=now)
                .execution_options(synchronize_session=False)
            )
        )
        await session.execute(
            update(BuddyPair)
            .where(column == user_id)
            .values({column.key: None})
            .execution_options(synchronize_session=False)
        )
    return removed


# -- the shapes of a member's export ---------------------------------------------------


@dataclass(frozen=True)
class _MemberRows:
    availability: BuddyAvailability | None
    blocks: Sequence[BuddyBlock]
    requests: Sequence[BuddyRequest]
    offers: Sequence[BuddyOffer]
    pairs: Sequence[BuddyPair]
    checkins: Sequence[BuddyCheckin]


def _export_availability(availability: BuddyAvailability) -> dict[str, Any]:
    return {
        "available": availability.available,
        "max_pairs": availability.max_pairs,
        "paused_until": availability.paused_until.isoformat() if availability.paused_until else None,
        "updated_at": availability.updated_at.isoformat(),
    }


def _export_request(request: BuddyRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "status": request.status,
        "criteria": request.criteria,
        "topic": request.topic,
        "created_at": request.created_at.isoformat(),
    }


def _export_offer(offer: BuddyOffer) -> dict[str, Any]:
    return {"offer": offer.id, "status": offer.status, "offered_at": offer.offered_at.isoformat()}


def _export_pair(pair: BuddyPair, user_id: str) -> dict[str, Any]:
    return {
        "id": pair.id,
        "partner": pair.member_b if pair.member_a == user_id else pair.member_a,
        "status": pair.status,
        "room_id": pair.room_id,
        "started_at": pair.started_at.isoformat(),
        "ended_at": pair.ended_at.isoformat() if pair.ended_at else None,
    }


def _export_checkin(checkin: BuddyCheckin) -> dict[str, Any]:
    return {
        "pair": checkin.pair_id,
        "round": checkin.round,
        "answer": checkin.answer,
        "answered_at": checkin.answered_at.isoformat(),
    }
