"""Reads and writes the casus tables; every method is one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from bot.clock import Clock
from bot.storage import Database
from bot.storage.results import rowcount
from commands.casus.invitation_rows import InvitationRows
from commands.casus.models import (
    CasusContribution,
    CasusInvitation,
    CasusInviteOptOut,
    CasusRun,
    CasusSchedule,
    CasusSubmission,
)
from commands.casus.rotation import UNKNOWN, Pick
from commands.casus.submission_rows import (
    APPROVED,
    SubmissionRows,
)

CLAIMED = "claimed"
OPEN = "open"
CLOSED = "closed"


WIDE_CASE = 3
"""A case that heard this many professions or more counts as a wide dialogue in !stats."""


@dataclass(frozen=True)
class RunRecord:
    id: int
    theme: str
    slot: str
    case_id: str
    round: int
    room_id: str
    root_event_id: str | None
    status: str
    step: int
    claimed_at: datetime
    posted_at: datetime | None
    closed_at: datetime | None


def _run(row: CasusRun) -> RunRecord:
    return RunRecord(
        id=row.id,
        theme=row.theme,
        slot=row.slot,
        case_id=row.case_id,
        round=row.round,
        room_id=row.room_id,
        root_event_id=row.root_event_id,
        status=row.status,
        step=row.step,
        claimed_at=row.claimed_at,
        posted_at=row.posted_at,
        closed_at=row.closed_at,
    )


class CasusStore(InvitationRows, SubmissionRows):
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._hint_secret: bytes | None = None

    # -- schedules -------------------------------------------------------------------

    async def schedule_since(self, theme: str, cron: str, every_weeks: int, default: datetime) -> datetime:
        """Since when the theme's schedule (as configured now) holds; a changed schedule
        starts afresh, so its missed posts are no debt of the old one."""
        async with self._db.transaction() as session:
            row = await session.get(CasusSchedule, theme)
            if row is None:
                row = CasusSchedule(theme=theme, cron=cron, every_weeks=every_weeks, since=default)
                session.add(row)
            elif row.cron != cron or row.every_weeks != every_weeks:
                row.cron, row.every_weeks, row.since = cron, every_weeks, default
            return row.since

    # -- runs ------------------------------------------------------------------------

    async def claim_run(
        self,
        theme: str,
        slot: str,
        room_id: str,
        choose: Callable[[list[tuple[str, int]]], Pick | None],
    ) -> tuple[RunRecord | None, bool]:
        """Claim the post for ``(theme, slot)`` before anything is sent.

        Returns the run and whether this call created it; an existing claim is returned
        as is (a job that runs twice posts once). ``choose`` picks the case from the
        theme's history inside the same transaction.
        """
        now = self._clock.now()
        try:
            async with self._db.transaction() as session:
                existing = await session.scalar(
                    select(CasusRun).where(CasusRun.theme == theme, CasusRun.slot == slot)
                )
                if existing is not None:
                    return _run(existing), False
                history = [
                    (case_id, round_)
                    for case_id, round_ in (
                        await session.execute(
                            select(CasusRun.case_id, CasusRun.round)
                            .where(CasusRun.theme == theme)
                            .order_by(CasusRun.id)
                        )
                    ).all()
                ]
                pick = choose(history)
                if pick is None:
                    return None, False
                row = CasusRun(
                    theme=theme,
                    slot=slot,
                    case_id=pick.case_id,
                    round=pick.round,
                    room_id=room_id,
                    root_event_id=None,
                    status=CLAIMED,
                    step=1,
                    claimed_at=now,
                    posted_at=None,
                    closed_at=None,
                )
                session.add(row)
                await session.flush()
                return _run(row), True
        except IntegrityError:
            async with self._db.session() as session:
                found = await session.scalar(
                    select(CasusRun).where(CasusRun.theme == theme, CasusRun.slot == slot)
                )
            if found is None:
                raise
            return _run(found), False

    async def mark_posted(self, run_id: int, root_event_id: str) -> RunRecord | None:
        now = self._clock.now()
        async with self._db.transaction() as session:
            row = await session.get(CasusRun, run_id)
            if row is None:
                return None
            if row.status == CLAIMED:
                row.status, row.root_event_id, row.posted_at = OPEN, root_event_id, now
            return _run(row)

    async def get_run(self, run_id: int) -> RunRecord | None:
        async with self._db.session() as session:
            row = await session.get(CasusRun, run_id)
        return _run(row) if row is not None else None

    async def runs(self, *statuses: str, theme: str | None = None) -> list[RunRecord]:
        query = select(CasusRun).where(CasusRun.status.in_(statuses)).order_by(CasusRun.id)
        if theme is not None:
            query = query.where(CasusRun.theme == theme)
        async with self._db.session() as session:
            rows = (await session.scalars(query)).all()
        return [_run(row) for row in rows]

    async def current_run(self, theme: str) -> RunRecord | None:
        """The theme's latest case that is still open (or being posted)."""
        found = await self.runs(OPEN, CLAIMED, theme=theme)
        return found[-1] if found else None

    async def history(self, theme: str) -> list[tuple[str, int]]:
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(CasusRun.case_id, CasusRun.round)
                    .where(CasusRun.theme == theme)
                    .order_by(CasusRun.id)
                )
            ).all()
        return [(case_id, round_) for case_id, round_ in rows]

    async def advance_step(self, run_id: int, step: int) -> bool:
        """Move an open run to ``step``; False when it is closed or further already."""
        async with self._db.transaction() as session:
            result = await session.execute(
                update(CasusRun)
                .where(CasusRun.id == run_id, CasusRun.status == OPEN, CasusRun.step < step)
                .values(step=step)
                .execution_options(synchronize_session=False)
            )
        return rowcount(result) > 0

    async def close_run(self, run_id: int) -> bool:
        """Close an open run; True when this call closed it."""
        async with self._db.transaction() as session:
            result = await session.execute(
                update(CasusRun)
                .where(CasusRun.id == run_id, CasusRun.status == OPEN)
                .values(status=CLOSED, closed_at=self._clock.now())
                .execution_options(synchronize_session=False)
            )
        return rowcount(result) > 0

    # -- contributions -----------------------------------------------------------------

    async def add_contribution(
        self, event_id: str, run_id: int, user_id: str, profession: str, step: int
    ) -> bool:
        """Count one reply; False when the event was counted before."""
        try:
            async with self._db.transaction() as session:
                if await session.get(CasusContribution, event_id) is not None:
                    return False
                session.add(
                    CasusContribution(
                        event_id=event_id,
                        run_id=run_id,
                        user_id=user_id,
                        profession=profession,
                        step=step,
                        created_at=self._clock.now(),
                    )
                )
        except IntegrityError:
            return False
        return True

    async def contributions(self, run_id: int) -> list[tuple[str, str]]:
        """(user id, profession) of every reply to the run, oldest first."""
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(CasusContribution.user_id, CasusContribution.profession)
                    .where(CasusContribution.run_id == run_id)
                    .order_by(CasusContribution.created_at, CasusContribution.event_id)
                )
            ).all()
        return [(user_id, profession) for user_id, profession in rows]

    # -- digest and stats --------------------------------------------------------------

    async def open_runs_heard(self) -> list[tuple[RunRecord, frozenset[str]]]:
        """Every open case (posted, not yet summarised), oldest first, with the
        professions heard in it so far: one read per table for every member's digest."""
        async with self._db.session() as session:
            runs = (
                await session.scalars(
                    select(CasusRun)
                    .where(CasusRun.status == OPEN, CasusRun.root_event_id.is_not(None))
                    .order_by(CasusRun.posted_at, CasusRun.id)
                )
            ).all()
            heard: dict[int, set[str]] = {int(run.id): set() for run in runs}
            if heard:
                rows = await session.execute(
                    select(CasusContribution.run_id, CasusContribution.profession)
                    .where(CasusContribution.run_id.in_(list(heard)))
                    .distinct()
                )
                for run_id, profession in rows.all():
                    heard[int(run_id)].add(profession)
        return [(_run(run), frozenset(heard[int(run.id)])) for run in runs]

    async def stats(self, since: datetime, until: datetime) -> tuple[dict[str, int], int, int]:
        """Replies per profession in the period; and of the cases posted in the period,
        how many there were and how many heard three or more professions (replies up
        to ``until``). Replies of members without a profile count for no profession."""
        async with self._db.session() as session:
            per_profession = (
                await session.execute(
                    select(CasusContribution.profession, func.count())
                    .where(
                        CasusContribution.created_at >= since,
                        CasusContribution.created_at < until,
                        CasusContribution.profession != UNKNOWN,
                    )
                    .group_by(CasusContribution.profession)
                )
            ).all()
            posted = select(CasusRun.id).where(CasusRun.posted_at >= since, CasusRun.posted_at < until)
            cases = int(await session.scalar(select(func.count()).select_from(posted.subquery())) or 0)
            heard = (
                await session.execute(
                    select(CasusContribution.run_id, func.count(func.distinct(CasusContribution.profession)))
                    .where(
                        CasusContribution.run_id.in_(posted),
                        CasusContribution.created_at < until,
                        CasusContribution.profession != UNKNOWN,
                    )
                    .group_by(CasusContribution.run_id)
                )
            ).all()
        wide = sum(1 for _, professions in heard if professions >= WIDE_CASE)
        return {str(p): int(n) for p, n in per_profession}, cases, wide

    # -- privacy -------------------------------------------------------------------------

    async def export_member(self, user_id: str) -> dict[str, Any]:
        async with self._db.session() as session:
            contributions = (
                await session.scalars(
                    select(CasusContribution)
                    .where(CasusContribution.user_id == user_id)
                    .order_by(CasusContribution.created_at)
                )
            ).all()
            invitations = (
                await session.scalars(select(CasusInvitation).where(CasusInvitation.user_id == user_id))
            ).all()
            opt_out = await session.get(CasusInviteOptOut, user_id)
            submissions = (
                await session.scalars(select(CasusSubmission).where(CasusSubmission.user_id == user_id))
            ).all()
        data: dict[str, Any] = {}
        if contributions:
            data["contributions"] = [
                {
                    "run": c.run_id,
                    "event_id": c.event_id,
                    "profession": c.profession,
                    "step": c.step,
                    "at": c.created_at.isoformat(),
                }
                for c in contributions
            ]
        if invitations:
            data["invitations"] = [
                {"run": i.run_id, "profession": i.profession, "step": i.step, "at": i.created_at.isoformat()}
                for i in invitations
            ]
        if opt_out is not None:
            data["invitations_off_since"] = opt_out.created_at.isoformat()
        if submissions:
            data["submissions"] = [
                {
                    "id": s.id,
                    "theme": s.theme,
                    "title": s.title,
                    "text": s.text,
                    "questions": list(s.questions or ()),
                    "anonymous": s.anonymous,
                    "status": s.status,
                    "reason": s.reason,
                    "created_at": s.created_at.isoformat(),
                }
                for s in submissions
            ]
        return data

    async def erase_member(self, user_id: str) -> int:
        """Delete the member's contributions, invitations, opt-out and unapproved
        submissions; an approved case stays in the library without their name."""
        async with self._db.transaction() as session:
            removed = 0
            for model in (CasusContribution, CasusInvitation, CasusInviteOptOut):
                result = await session.execute(
                    delete(model).where(model.user_id == user_id).execution_options(synchronize_session=False)
                )
                removed += rowcount(result)
            result = await session.execute(
                delete(CasusSubmission)
                .where(CasusSubmission.user_id == user_id, CasusSubmission.status != APPROVED)
                .execution_options(synchronize_session=False)
            )
            removed += rowcount(result)
            result = await session.execute(
                update(CasusSubmission)
                .where(CasusSubmission.user_id == user_id)
                .values(user_id=None, anonymous=True)
                .execution_options(synchronize_session=False)
            )
            removed += rowcount(result)
        return removed
