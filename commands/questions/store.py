"""Database access of the questions feature; every method is one unit of work."""

from __future__ import annotations

from datetime import datetime
from statistics import median
from typing import Any

from sqlalchemy import delete, func, select, update

from bot.clock import Clock
from bot.errors import UserError
from bot.storage import Database
from bot.storage.results import rowcount
from commands.questions.models import Question, QuestionInvite, QuestionPreference
from commands.questions.rotation import InviteHistory
from commands.stats.sources import StatCount

OPEN = "open"
ANSWERED = "answered"
CLOSED = "closed"


class QuestionStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def create(
        self, asker: str, profession: str, text: str, source_event: str, max_open: int | None = None
    ) -> int:
        """The question's id; a replayed command event finds the question it made.

        With ``max_open``, a member who already has that many open questions gets a
        UserError instead (counted in the same transaction as the insert).
        """
        async with self._db.transaction() as session:
            existing = await session.scalar(select(Question.id).where(Question.source_event == source_event))
            if existing is not None:
                return int(existing)
            if max_open is not None:
                count = int(
                    await session.scalar(
                        select(func.count()).where(Question.asker_id == asker, Question.status == OPEN)
                    )
                    or 0
                )
                if count >= max_open:
                    raise UserError("questions.error.too_many_open", count=count, limit=max_open)
            row = Question(
                asker_id=asker,
                profession=profession,
                text=text,
                status=OPEN,
                source_event=source_event,
                room_id=None,
                event_id=None,
                answers=0,
                rounds=0,
                created_at=self._clock.now(),
                answered_at=None,
                closed_at=None,
            )
            session.add(row)
            await session.flush()
            return int(row.id)

    async def get(self, question_id: int) -> Question | None:
        async with self._db.session() as session:
            return await session.get(Question, question_id)

    async def by_event(self, event_id: str) -> Question | None:
        async with self._db.session() as session:
            return await session.scalar(select(Question).where(Question.event_id == event_id))

    async def set_post(self, question_id: int, room_id: str, event_id: str) -> None:
        async with self._db.transaction() as session:
            row = await session.get(Question, question_id)
            if row is not None and row.event_id is None:
                row.room_id, row.event_id = room_id, event_id

    async def open_questions(self, profession: str | None = None) -> list[Question]:
        conditions = [Question.status == OPEN]
        if profession:
            conditions.append(Question.profession == profession)
        async with self._db.session() as session:
            return list(
                (await session.scalars(select(Question).where(*conditions).order_by(Question.id))).all()
            )

    async def stats(self, since: datetime, until: datetime) -> list[StatCount]:
        """Asked and answered per profession in the period; median hours to a first answer."""
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(Question.profession, Question.created_at, Question.answered_at).where(
                        Question.created_at >= since, Question.created_at < until
                    )
                )
            ).all()
        asked: dict[str, int] = {}
        answered: dict[str, int] = {}
        waits: dict[str, list[float]] = {}
        for profession, created, first in rows:
            asked[profession] = asked.get(profession, 0) + 1
            if first is not None:
                answered[profession] = answered.get(profession, 0) + 1
                waits.setdefault(profession, []).append((first - created).total_seconds() / 3600)
        counts = [StatCount("questions_asked", p, n) for p, n in sorted(asked.items())]
        counts += [StatCount("questions_answered", p, n) for p, n in sorted(answered.items())]
        counts += [StatCount("questions_median_hours", p, round(median(w))) for p, w in sorted(waits.items())]
        return counts

    async def latest_open_of(self, asker: str) -> Question | None:
        async with self._db.session() as session:
            return await session.scalar(
                select(Question)
                .where(Question.asker_id == asker, Question.status == OPEN)
                .order_by(Question.id.desc())
                .limit(1)
            )

    async def record_answer(self, question_id: int) -> int:
        """Counts an answer; returns the new count (0 when the question is not open)."""
        async with self._db.transaction() as session:
            row = await session.get(Question, question_id)
            if row is None or row.status != OPEN:
                return 0
            row.answers += 1
            if row.answered_at is None:
                row.answered_at = self._clock.now()
            return row.answers

    async def close(self, question_id: int, status: str) -> bool:
        async with self._db.transaction() as session:
            result = await session.execute(
                update(Question)
                .where(Question.id == question_id, Question.status == OPEN)
                .values(status=status, closed_at=self._clock.now())
                .execution_options(synchronize_session=False)
            )
        return rowcount(result) > 0

    async def start_round(self, question_id: int, round_number: int) -> bool:
        """Claims invitation round ``round_number``; False when it was claimed before."""
        async with self._db.transaction() as session:
            result = await session.execute(
                update(Question)
                .where(Question.id == question_id, Question.rounds == round_number - 1)
                .values(rounds=round_number)
                .execution_options(synchronize_session=False)
            )
        return rowcount(result) > 0

    # -- invitations ----------------------------------------------------------------------

    async def invited(self, question_id: int, round_number: int | None = None) -> list[str]:
        conditions = [QuestionInvite.question_id == question_id]
        if round_number is not None:
            conditions.append(QuestionInvite.round == round_number)
        async with self._db.session() as session:
            return list((await session.scalars(select(QuestionInvite.user_id).where(*conditions))).all())

    async def add_invites(self, question_id: int, round_number: int, users: list[str]) -> None:
        now = self._clock.now()
        async with self._db.transaction() as session:
            for user in users:
                session.add(
                    QuestionInvite(question_id=question_id, user_id=user, round=round_number, invited_at=now)
                )

    async def history(self, users: list[str]) -> dict[str, InviteHistory]:
        if not users:
            return {}
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(QuestionInvite.user_id, func.count(), func.max(QuestionInvite.invited_at))
                    .where(QuestionInvite.user_id.in_(users))
                    .group_by(QuestionInvite.user_id)
                )
            ).all()
        return {user: InviteHistory(int(count), last) for user, count, last in rows}

    # -- preferences ------------------------------------------------------------------------

    async def set_accepts(self, user_id: str, accepts: bool) -> None:
        now = self._clock.now()
        async with self._db.transaction() as session:
            row = await session.get(QuestionPreference, user_id)
            if row is None:
                session.add(QuestionPreference(user_id=user_id, accepts=accepts, updated_at=now))
            else:
                row.accepts, row.updated_at = accepts, now

    async def preferences(self) -> dict[str, bool]:
        async with self._db.session() as session:
            rows = (
                await session.execute(select(QuestionPreference.user_id, QuestionPreference.accepts))
            ).all()
        return {user: bool(accepts) for user, accepts in rows}

    # -- privacy ----------------------------------------------------------------------------

    async def export_member(self, user_id: str) -> dict[str, Any]:
        async with self._db.session() as session:
            asked = (await session.scalars(select(Question).where(Question.asker_id == user_id))).all()
            invites = (
                await session.scalars(select(QuestionInvite).where(QuestionInvite.user_id == user_id))
            ).all()
            preference = await session.get(QuestionPreference, user_id)
        data: dict[str, Any] = {}
        if asked:
            data["questions_asked"] = [
                {
                    "id": q.id,
                    "profession": q.profession,
                    "text": q.text,
                    "status": q.status,
                    "answers": q.answers,
                    "created_at": q.created_at.isoformat(),
                }
                for q in asked
            ]
        if invites:
            data["invited_to_answer"] = [
                {"question": i.question_id, "round": i.round, "invited_at": i.invited_at.isoformat()}
                for i in invites
            ]
        if preference is not None:
            data["accepts_questions"] = preference.accepts
        return data

    async def asked_by(self, user_id: str) -> list[Question]:
        async with self._db.session() as session:
            return list((await session.scalars(select(Question).where(Question.asker_id == user_id))).all())

    async def erase_member(self, user_id: str) -> int:
        """Questions asked are anonymised and emptied (answers stay with their writers);
        invitations and the preference go."""
        async with self._db.transaction() as session:
            anonymised = await session.execute(
                update(Question)
                .where(Question.asker_id == user_id)
                .values(asker_id=None, text="", status=CLOSED, closed_at=self._clock.now(), source_event=None)
                .execution_options(synchronize_session=False)
            )
            invites = await session.execute(delete(QuestionInvite).where(QuestionInvite.user_id == user_id))
            preference = await session.execute(
                delete(QuestionPreference).where(QuestionPreference.user_id == user_id)
            )
        return rowcount(anonymised) + rowcount(invites) + rowcount(preference)
