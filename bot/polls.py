"""Polls: a question members answer by tapping (where their client shows polls) or by
typing ``!stem 2`` (everywhere). Both are one record: a member's current answer.

Features speak of :class:`~bot.transport.Poll` values and purposes; the transport shows
them (Matrix: MSC3381 events, :mod:`bot.matrix.polls`). The rules for counting are the
MSC's, whichever way the answer came:

- only a member's latest answer counts, by the homeserver's timestamp (an older answer
  that arrives late, say from a filled gap, changes nothing);
- answers beyond the poll's ``max_selections`` are dropped; an answer naming anything the
  poll does not have spoils the vote (it counts as "no choice", replacing the earlier one);
- answers timestamped after the poll ended are ignored.

Every event reaches this service at most once (the sync loop claims it first); a replay
after a crash writes the same row again, which changes nothing.

A feature registers a handler per *purpose* (``events.dates``, the conversations' own)
to hear about each counted vote; the poll's ``ref`` tells it which of its things the
poll is about.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select

from bot.clock import Clock
from bot.formatting import Markup, Rendered
from bot.i18n import Catalogue
from bot.ids import EventId, RoomId, UserId
from bot.storage import Database
from bot.storage.models import DirectRoom, PollRow, PollVoteRow
from bot.storage.results import rowcount
from bot.transport import POLL_MAX_ANSWERS, Poll, PollAnswer, Transport

if TYPE_CHECKING:
    from bot.context import Context

log = logging.getLogger(__name__)

#: How many polls :meth:`PollService.export_member` lists at most.
_EXPORT_LIMIT = 1000


@dataclass(frozen=True)
class StartedPoll:
    """A poll the bot started, as stored."""

    event_id: EventId
    room_id: RoomId
    purpose: str
    ref: str
    poll: Poll
    language: str
    opened_at: datetime
    closed_at: datetime | None = None
    #: The end event, once sent (a poll closed whose end failed to send has none yet).
    end_event_id: EventId | None = None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def ended(self) -> bool:
        return self.end_event_id is not None


@dataclass(frozen=True)
class Tally:
    """The votes of a poll: how many members picked each answer."""

    poll: StartedPoll
    counts: dict[str, int] = field(default_factory=dict)
    voters: int = 0

    def leaders(self) -> list[PollAnswer]:
        """The answers with the most votes (several on a tie; none without votes)."""
        top = max(self.counts.values(), default=0)
        return [a for a in self.poll.poll.answers if top > 0 and self.counts.get(a.id, 0) == top]


@dataclass(frozen=True)
class CastVote:
    """The outcome of one answer: ``counted`` is False when it was ignored (the poll had
    ended, or a later answer of the member was already recorded)."""

    poll: StartedPoll
    answer_ids: tuple[str, ...]
    counted: bool


VoteHandler = Callable[["Context", StartedPoll, tuple[str, ...]], Awaitable[None]]


def counted_answers(poll: Poll, answer_ids: Sequence[str]) -> tuple[str, ...]:
    """What a response counts as (MSC3381): the first ``max_selections`` ids, each once;
    nothing at all when one of them is no answer of the poll (a spoiled vote)."""
    picked = list(dict.fromkeys(answer_ids[: max(1, poll.max_selections)]))
    known = {a.id for a in poll.answers}
    if any(a not in known for a in picked):
        return ()
    return tuple(picked)


def numbered(texts: Sequence[str]) -> tuple[PollAnswer, ...]:
    """Answers numbered from 1: the numbers are the ids, so ``!stem 2`` names the second."""
    return tuple(PollAnswer(str(n), text) for n, text in enumerate(texts[:POLL_MAX_ANSWERS], start=1))


def _record(row: PollRow) -> StartedPoll:
    answers = tuple(PollAnswer(str(a["id"]), str(a["text"])) for a in row.answers if isinstance(a, dict))
    return StartedPoll(
        event_id=EventId(row.event_id),
        room_id=RoomId(row.room_id),
        purpose=row.purpose,
        ref=row.ref,
        poll=Poll(row.question, answers, disclosed=row.disclosed, max_selections=row.max_selections),
        language=row.language,
        opened_at=row.opened_at,
        closed_at=row.closed_at,
        end_event_id=EventId(row.end_event_id) if row.end_event_id else None,
    )


class PollService:
    def __init__(self, db: Database, clock: Clock, transport: Transport, catalogue: Catalogue) -> None:
        self._db = db
        self._clock = clock
        self._transport = transport
        self._catalogue = catalogue
        self._handlers: dict[str, VoteHandler] = {}

    def on_vote(self, purpose: str, handler: VoteHandler) -> None:
        if purpose in self._handlers:
            raise ValueError(f"a vote handler for {purpose!r} is registered twice")
        self._handlers[purpose] = handler

    # ------------------------------------------------------------------ texts

    def fallback(self, language: str, poll: Poll, intro: Markup | None = None) -> Rendered:
        """What a client without polls shows: the question (or ``intro``, a message that
        lists the answers itself), the numbered answers, and how to answer by command."""
        example = poll.answers[min(1, len(poll.answers) - 1)].id if poll.answers else "1"
        how_key = "core.poll.how_multiple" if poll.max_selections > 1 else "core.poll.how"
        if intro is not None:  # a conversation's question: typing the number answers it too
            how_key = "core.poll.how_typed"
        how = self._catalogue.fragment(
            language,
            how_key,
            example=example,
            count=min(poll.max_selections, len(poll.answers)),
        )
        if intro is not None:
            return self._catalogue.render(language, "core.poll.fallback_intro", intro=intro, how=how)
        lines = Markup.join(
            [
                self._catalogue.fragment(language, "core.poll.answer", id=a.id, text=a.text)
                for a in poll.answers
            ]
        )
        return self._catalogue.render(
            language, "core.poll.fallback", question=poll.question, answers=lines, how=how
        )

    def result_text(self, tally: Tally) -> str:
        """The end's text: every answer with its votes, then the answer(s) most chosen."""
        language, poll = tally.poll.language, tally.poll.poll
        lines = Markup.join(
            [
                self._catalogue.fragment(
                    language, "core.poll.result_line", id=a.id, text=a.text, count=tally.counts.get(a.id, 0)
                )
                for a in poll.answers
            ]
        )
        leaders = tally.leaders()
        summary = (
            self._catalogue.fragment(
                language, "core.poll.leader", answers=", ".join(a.text for a in leaders), count=len(leaders)
            )
            if leaders
            else self._catalogue.fragment(language, "core.poll.no_votes")
        )
        return self._catalogue.plain(
            language,
            "core.poll.result",
            question=poll.question,
            lines=lines,
            summary=summary,
            voters=tally.voters,
        )

    # ------------------------------------------------------------------ polls

    async def start(
        self,
        room_id: RoomId,
        poll: Poll,
        *,
        purpose: str,
        ref: str,
        language: str,
        txn_id: str,
        intro: Markup | None = None,
    ) -> StartedPoll:
        """Post a poll (with its command fallback) and remember it."""
        if not poll.answers:
            raise ValueError("a poll needs answers")
        poll = Poll(poll.question, poll.answers[:POLL_MAX_ANSWERS], poll.disclosed, poll.max_selections)
        text = self.fallback(language, poll, intro)
        event_id = await self._transport.send_poll(
            room_id, poll, text.plain, fallback_html=text.html, txn_id=txn_id
        )
        now = self._clock.now()
        async with self._db.transaction() as session:
            await session.execute(
                self._db.insert(PollRow)
                .values(
                    event_id=event_id,
                    room_id=room_id,
                    purpose=purpose,
                    ref=ref,
                    question=poll.question,
                    answers=[{"id": a.id, "text": a.text} for a in poll.answers],
                    max_selections=max(1, min(poll.max_selections, len(poll.answers))),
                    disclosed=poll.disclosed,
                    language=language,
                    opened_at=now,
                )
                # A replayed start (same transaction id, same event) keeps the first row.
                .on_conflict_do_nothing(index_elements=["event_id"])
            )
        found = await self.get(event_id)
        assert found is not None
        return found

    async def get(self, event_id: str) -> StartedPoll | None:
        async with self._db.session() as session:
            row = await session.get(PollRow, event_id)
            return _record(row) if row is not None else None

    async def latest(
        self,
        room_id: RoomId | None = None,
        *,
        purpose: str | None = None,
        ref: str | None = None,
        open_only: bool = True,
    ) -> StartedPoll | None:
        """The newest (open) poll in a room and/or of a purpose and ref."""
        query = select(PollRow)
        if open_only:
            query = query.where(PollRow.closed_at.is_(None))
        if room_id is not None:
            query = query.where(PollRow.room_id == room_id)
        if purpose is not None:
            query = query.where(PollRow.purpose == purpose)
        if ref is not None:
            query = query.where(PollRow.ref == ref)
        async with self._db.session() as session:
            row = (await session.execute(query.order_by(PollRow.opened_at.desc()).limit(1))).scalar()
            return _record(row) if row is not None else None

    async def count(self, purpose: str) -> int:
        """How many polls of a purpose were ever started (a feature numbers its polls)."""
        async with self._db.session() as session:
            found = await session.scalar(
                select(func.count()).select_from(PollRow).where(PollRow.purpose == purpose)
            )
        return int(found or 0)

    async def tally(self, poll: StartedPoll) -> Tally:
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(PollVoteRow.answer_ids).where(PollVoteRow.poll_event_id == poll.event_id)
                )
            ).scalars()
            counts: dict[str, int] = {a.id: 0 for a in poll.poll.answers}
            voters = 0
            for answers in rows:
                picked = [a for a in answers if a in counts] if isinstance(answers, list) else []
                voters += 1 if picked else 0
                for answer_id in picked:
                    counts[answer_id] += 1
        return Tally(poll, counts, voters)

    async def end(self, poll: StartedPoll, *, txn_id: str) -> Tally:
        """End the poll: later answers are ignored, and the result is posted as its end.

        The closing moment is written first (answers after it no longer count); if
        posting the end fails, ending again posts it with the same moment and result."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            row = await session.get(PollRow, poll.event_id)
            if row is not None and row.closed_at is None:
                row.closed_at = now
        closed = await self.get(poll.event_id) or poll
        tally = await self.tally(closed)
        end_id = await self._transport.end_poll(
            poll.room_id, poll.event_id, self.result_text(tally), tally.counts, txn_id=txn_id
        )
        async with self._db.transaction() as session:
            row = await session.get(PollRow, poll.event_id)
            if row is not None:
                row.end_event_id = end_id
        log.info("poll %s ended: %d voters", poll.event_id, tally.voters)
        return tally

    # ------------------------------------------------------------------ votes

    async def vote(
        self, ctx: Context, poll: StartedPoll, answer_ids: Sequence[str], moment: datetime
    ) -> CastVote:
        """Record the sender's answer (by poll response or command); the purpose's handler
        hears about it when it counted."""
        cast = await self._record_vote(poll, ctx.sender, answer_ids, moment, ctx.message.event_id)
        handler = self._handlers.get(poll.purpose)
        if cast.counted and handler is not None:
            await handler(ctx, poll, cast.answer_ids)
        return cast

    async def _record_vote(
        self, poll: StartedPoll, user: UserId, answer_ids: Sequence[str], moment: datetime, event_id: str
    ) -> CastVote:
        answers = counted_answers(poll.poll, answer_ids)
        if poll.closed_at is not None and moment > poll.closed_at:
            return CastVote(poll, answers, counted=False)
        statement = self._db.insert(PollVoteRow).values(
            poll_event_id=poll.event_id,
            user_id=user,
            answer_ids=list(answers),
            voted_at=moment,
            event_id=event_id,
        )
        result = await self._db.execute_one(
            statement.on_conflict_do_update(
                index_elements=["poll_event_id", "user_id"],
                set_={
                    "answer_ids": statement.excluded.answer_ids,
                    "voted_at": statement.excluded.voted_at,
                    "event_id": statement.excluded.event_id,
                },
                # Only a later answer replaces the recorded one.
                where=PollVoteRow.voted_at <= statement.excluded.voted_at,
            )
        )
        counted = getattr(result, "rowcount", 1) != 0
        return CastVote(poll, answers, counted=counted)

    # ------------------------------------------------------------------ privacy

    async def export_member(self, user_id: UserId) -> dict[str, Any]:
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(PollVoteRow, PollRow)
                    .join(PollRow, PollRow.event_id == PollVoteRow.poll_event_id)
                    .where(PollVoteRow.user_id == user_id)
                    .order_by(PollVoteRow.voted_at)
                    .limit(_EXPORT_LIMIT)
                )
            ).all()
        votes = []
        for vote, row in rows:
            poll = _record(row)
            votes.append(
                {
                    "question": poll.poll.question,
                    "answers": [a.text for a in poll.poll.answers if a.id in (vote.answer_ids or [])],
                    "voted_at": vote.voted_at.isoformat(),
                }
            )
        return {"votes": votes} if votes else {}

    async def erase_member(self, user_id: UserId) -> int:
        """The member's answers go, and the polls in their DM (questions put to them)."""
        async with self._db.transaction() as session:
            removed = await session.execute(delete(PollVoteRow).where(PollVoteRow.user_id == user_id))
            dm = await session.get(DirectRoom, user_id)
            count = rowcount(removed)
            if dm is not None:
                polls = await session.execute(delete(PollRow).where(PollRow.room_id == dm.room_id))
                count += rowcount(polls)
        return count
