"""The seams through which the organisers' pages read evaluations, the stats report and
the casus queue.

Each owning feature implements one Protocol on its feature class (events the
evaluations, stats the report, casus the queue), as events implements accreditation's
:class:`~commands.accreditation.sources.AttendanceSource`; the web page finds them in the
registry and never imports their tables. Texts come back in the asked language, plain
(the templates escape them); the decisions (approve, decline) run the owning feature's
own code path, so a member hears of them exactly as from the chat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bot.registry import Registry

# -- evaluations (the events feature) ----------------------------------------------------


@dataclass(frozen=True)
class EvaluatedMeeting:
    id: int
    title: str
    starts_at: datetime
    organiser: str | None
    evaluations: int


@dataclass(frozen=True)
class EvaluationGroup:
    """One profession's answers; ``average`` is of the 1–5 ratings given (None: none)."""

    profession: str
    count: int
    average: float | None
    ratings: int
    worked: tuple[str, ...]
    not_worked: tuple[str, ...]
    tips: tuple[str, ...]


@dataclass(frozen=True)
class EvaluationSummary:
    meeting: EvaluatedMeeting
    groups: tuple[EvaluationGroup, ...]
    average: float | None


@runtime_checkable
class EvaluationSource(Protocol):
    async def evaluated_meetings(self, organiser: str | None) -> list[EvaluatedMeeting]:
        """Announced meetings that have begun, newest first, with their number of
        evaluations; only the organiser's own when ``organiser`` is given."""
        ...

    async def evaluation_summary(self, event_id: int, language: str) -> EvaluationSummary | None:
        """The meeting's evaluations grouped by profession (None: no such meeting)."""
        ...


# -- the stats report (the stats feature) ------------------------------------------------

ChartKind = Literal["participation", "heat"]
CHART_KINDS: tuple[ChartKind, ...] = ("participation", "heat")


@dataclass(frozen=True)
class StatsTable:
    """One metric: its value for the community as a whole (None: only per profession)
    and per profession (label, value)."""

    title: str
    total: str | None
    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class StatsView:
    """The ``!stats`` report as texts, small counts already shown as ``<3``."""

    since: date
    until: date
    tables: tuple[StatsTable, ...]
    pairs: tuple[tuple[str, str, str], ...]
    cross: str
    total: str


@runtime_checkable
class StatsReportSource(Protocol):
    def default_period(self) -> tuple[date, date]:
        """The period ``!stats`` reports without ``periode=`` (first and last day)."""
        ...

    async def stats_view(self, since: date, until: date, language: str) -> StatsView:
        """The report of the days ``since`` to ``until``; a period the report does not
        take raises :class:`~bot.errors.UserError` with the stats feature's text."""
        ...

    async def stats_chart(self, since: date, until: date, language: str, kind: ChartKind) -> bytes:
        """The chart ``!stats`` sends for the same period, as PNG."""
        ...


# -- the casus queue (the casus feature) -------------------------------------------------


@dataclass(frozen=True)
class WaitingCase:
    id: int
    theme: str
    title: str
    text: str
    questions: tuple[str, ...]
    member: str | None
    anonymous: bool


@runtime_checkable
class CasusQueueSource(Protocol):
    async def waiting_cases(self, language: str) -> list[WaitingCase]:
        """Cases members brought in that wait for a moderator, oldest first."""
        ...

    async def approve_case(self, submission_id: int) -> bool:
        """Approve as ``!casus goedkeuren`` does; False when it waits no longer."""
        ...

    async def decline_case(self, submission_id: int, reason: str) -> bool:
        """Decline as ``!casus afwijzen`` does, the reason told to the member."""
        ...


def evaluation_source(registry: Registry) -> EvaluationSource | None:
    return next((f for f in registry.features if isinstance(f, EvaluationSource)), None)


def stats_report_source(registry: Registry) -> StatsReportSource | None:
    return next((f for f in registry.features if isinstance(f, StatsReportSource)), None)


def casus_queue_source(registry: Registry) -> CasusQueueSource | None:
    return next((f for f in registry.features if isinstance(f, CasusQueueSource)), None)
