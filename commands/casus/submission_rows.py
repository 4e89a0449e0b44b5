"""The casus submissions members send in and moderators decide on; every method is one
transaction. Part of :class:`commands.casus.store.CasusStore`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bot.clock import Clock
from bot.storage import Database
from commands.casus.models import CasusSubmission

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"


@dataclass(frozen=True)
class SubmissionRecord:
    id: int
    user_id: str | None
    theme: str
    title: str
    text: str
    questions: tuple[str, ...]
    anonymous: bool
    language: str
    status: str
    reason: str | None
    created_at: datetime

    @property
    def case_id(self) -> str:
        return submission_case_id(self.id)


def submission_case_id(submission_id: int) -> str:
    return f"ingediend-{submission_id}"


def _submission(row: CasusSubmission) -> SubmissionRecord:
    return SubmissionRecord(
        id=row.id,
        user_id=row.user_id,
        theme=row.theme,
        title=row.title,
        text=row.text,
        questions=tuple(row.questions or ()),
        anonymous=bool(row.anonymous),
        language=row.language,
        status=row.status,
        reason=row.reason,
        created_at=row.created_at,
    )


class SubmissionRows:
    _db: Database
    _clock: Clock

    async def add_submission(
        self,
        user_id: str,
        theme: str,
        title: str,
        text: str,
        questions: Sequence[str],
        anonymous: bool,
        language: str,
    ) -> SubmissionRecord:
        async with self._db.transaction() as session:
            row = CasusSubmission(
                user_id=user_id,
                theme=theme,
                title=title,
                text=text,
                questions=list(questions),
                anonymous=anonymous,
                language=language,
                status=PENDING,
                reason=None,
                created_at=self._clock.now(),
                decided_at=None,
            )
            session.add(row)
            await session.flush()
            return _submission(row)

    async def submissions(self, *statuses: str) -> list[SubmissionRecord]:
        async with self._db.session() as session:
            rows = (
                await session.scalars(
                    select(CasusSubmission)
                    .where(CasusSubmission.status.in_(statuses))
                    .order_by(CasusSubmission.id)
                )
            ).all()
        return [_submission(row) for row in rows]

    async def get_submission(self, submission_id: int) -> SubmissionRecord | None:
        async with self._db.session() as session:
            row = await session.get(CasusSubmission, submission_id)
        return _submission(row) if row is not None else None

    async def decide(self, submission_id: int, status: str, reason: str | None) -> SubmissionRecord | None:
        """Approve or reject a pending submission; None when it is not pending."""
        async with self._db.transaction() as session:
            row = await session.get(CasusSubmission, submission_id)
            if row is None or row.status != PENDING:
                return None
            row.status, row.reason, row.decided_at = status, reason, self._clock.now()
            return _submission(row)
