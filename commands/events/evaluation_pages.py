"""What Events gives the organisers' web page about evaluations
(:class:`commands.organiser_web.page_sources.EvaluationSource`): the meetings that have
begun with their number of evaluations, and one meeting's answers grouped by profession,
in the same order and with the same averages as ``!event evaluatie`` in the chat."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select

from bot.storage import Database
from commands.events.base import EventsBase
from commands.events.models import Evaluation, Event
from commands.events.records import EvaluationRecord, EventRecord
from commands.events.store import ANNOUNCED
from commands.organiser_web.page_sources import EvaluatedMeeting, EvaluationGroup, EvaluationSummary

ANSWER_FIELDS = ("worked", "not_worked", "tips")
MEETINGS_LISTED = 200
"""The newest meetings on the page; older ones are in the chat's ``!event evaluatie``."""


def group_by_profession(
    results: Sequence[EvaluationRecord], order: Sequence[str]
) -> list[tuple[str, list[EvaluationRecord]]]:
    """The evaluations per profession key ("" for members without one), in the order of
    the configured professions, unknown keys and "" last."""
    groups: dict[str, list[EvaluationRecord]] = {}
    for result in results:
        groups.setdefault(result.profession or "", []).append(result)
    ranks = [*order, ""]
    keys = sorted(groups, key=lambda k: ranks.index(k) if k in ranks else len(ranks))
    return [(key, groups[key]) for key in keys]


def average_rating(items: Sequence[EvaluationRecord]) -> tuple[float | None, int]:
    """The mean of the ratings given and how many there were."""
    ratings = [r.rating for r in items if r.rating]
    return (sum(ratings) / len(ratings) if ratings else None), len(ratings)


async def meetings_with_counts(
    db: Database, now: datetime, organiser: str | None, limit: int = MEETINGS_LISTED
) -> list[tuple[int, str, datetime, str | None, int]]:
    """Announced events that began before ``now``, newest first, with their evaluations
    counted in one query (the page lists up to a few hundred)."""
    counts = select(Evaluation.event_id, func.count().label("n")).group_by(Evaluation.event_id).subquery()
    query = (
        select(Event.id, Event.title, Event.starts_at, Event.organiser, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.event_id == Event.id)
        .where(Event.status == ANNOUNCED, Event.starts_at <= now)
        .order_by(Event.starts_at.desc(), Event.id.desc())
        .limit(limit)
    )
    if organiser is not None:
        query = query.where(Event.organiser == organiser)
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return [(int(i), str(t), s if s.tzinfo else s.replace(tzinfo=UTC), o, int(n)) for i, t, s, o, n in rows]


class EvaluationPages(EventsBase):
    """Implements :class:`commands.organiser_web.page_sources.EvaluationSource`."""

    def profession_label(self, language: str, key: str) -> str:
        found = self.services.professions.get(key)
        if found:
            return found.label(language)
        return self.services.catalogue.plain(language, "events.show.no_profile") if not key else key

    async def evaluated_meetings(self, organiser: str | None) -> list[EvaluatedMeeting]:
        rows = await meetings_with_counts(self.services.db, self.services.clock.now(), organiser)
        return [EvaluatedMeeting(i, t, s, o, n) for i, t, s, o, n in rows]

    async def evaluation_summary(self, event_id: int, language: str) -> EvaluationSummary | None:
        event = await self.store.get(event_id)
        if event is None or event.status != ANNOUNCED:
            return None
        results = await self.store.evaluations(event.id)
        order = [p.key for p in self.services.professions.items]
        groups = []
        for key, items in group_by_profession(results, order):
            average, ratings = average_rating(items)
            answers = {f: tuple(str(getattr(r, f)) for r in items if getattr(r, f)) for f in ANSWER_FIELDS}
            groups.append(
                EvaluationGroup(
                    self.profession_label(language, key),
                    len(items),
                    average,
                    ratings,
                    answers["worked"],
                    answers["not_worked"],
                    answers["tips"],
                )
            )
        return EvaluationSummary(_meeting(event, len(results)), tuple(groups), average_rating(results)[0])


def _meeting(event: EventRecord, evaluations: int) -> EvaluatedMeeting:
    return EvaluatedMeeting(event.id, event.title, event.starts_at, event.organiser, evaluations)
