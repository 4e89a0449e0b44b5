"""What the nudges keep about a member: exported, erased, or emptied of quoted content."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, delete, select, update

from bot.nudges.records import DROPPED, PENDING, deliver_job_id
from bot.scheduler import SchedulerService
from bot.storage.database import Database
from bot.storage.models import Member, Nudge


class NudgeMemberData:
    """The nudges' export and erase hooks, and forgetting erased content."""

    def __init__(self, db: Database, scheduler: SchedulerService) -> None:
        self._db = db
        self._scheduler = scheduler

    async def export_member(self, user_id: str) -> dict[str, Any]:
        """Everything this service keeps about the member, JSON-ready."""
        async with self._db.session() as session:
            member = await session.get(Member, user_id)
            rows = (
                await session.scalars(
                    select(Nudge).where(Nudge.user_id == user_id).order_by(Nudge.created_at, Nudge.id)
                )
            ).all()
        return {
            "user_id": user_id,
            "nudges_opt_out": bool(member.nudges_opt_out) if member is not None else False,
            "nudges": [
                {
                    "id": row.id,
                    "kind": row.kind,
                    "message_key": row.message_key,
                    "params": dict(row.params or {}),
                    "status": row.status,
                    "created_at": row.created_at.isoformat(),
                    "deliver_at": row.deliver_at.isoformat(),
                    "sent_at": row.sent_at.isoformat() if row.sent_at else None,
                    "expires_at": row.expires_at.isoformat() if row.expires_at else None,
                }
                for row in rows
            ],
        }

    async def erase_member(self, user_id: str) -> int:
        """Delete every nudge of the member and cancel their deliveries; returns how many.

        The member row (language, opt-out) belongs to the core and is left alone.
        """
        async with self._db.transaction() as session:
            rows = (
                await session.execute(select(Nudge.id, Nudge.status).where(Nudge.user_id == user_id))
            ).all()
            await session.execute(
                delete(Nudge).where(Nudge.user_id == user_id).execution_options(synchronize_session=False)
            )
        # After the commit: a delivery woken in between finds no row and does nothing.
        for nudge_id, status in rows:
            if status == PENDING:
                await self._scheduler.cancel(deliver_job_id(nudge_id))
        return len(rows)

    async def forget_content(self, dedupe_prefix: str) -> int:
        """Empty the stored parameters of the nudges whose key starts with ``dedupe_prefix``
        (an erased member's question quoted in other members' invitations); the pending
        ones are dropped. Returns how many rows were touched.

        The rows stay, so the recipients' weekly budgets still count what they were sent.
        """
        matching = Nudge.dedupe_key.startswith(dedupe_prefix, autoescape=True)
        async with self._db.transaction() as session:
            rows = (await session.execute(select(Nudge.id, Nudge.status).where(matching))).all()
            if rows:
                await session.execute(
                    update(Nudge)
                    .where(Nudge.id.in_([nudge_id for nudge_id, _status in rows]))
                    .values(params={}, status=case((Nudge.status == PENDING, DROPPED), else_=Nudge.status))
                    .execution_options(synchronize_session=False)
                )
        for nudge_id, status in rows:
            if status == PENDING:
                await self._scheduler.cancel(deliver_job_id(nudge_id))
        return len(rows)
