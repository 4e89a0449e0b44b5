"""What every part of the casus feature shares: its settings, stores, the case bank and
what it keeps in memory (approved submissions, who brought them in, the open threads)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.formatting import Rendered
from bot.ids import EventId, RoomId, UserId
from bot.services import Services
from bot.transport import OutgoingMessage
from commands.casus.library import LANGUAGES, STEPS, Case, Library, load_library, submitted_case
from commands.casus.rotation import Meter, perspective_meter
from commands.casus.settings import CasusSettings
from commands.casus.store import OPEN, CasusStore, RunRecord
from commands.casus.submission_rows import APPROVED, SubmissionRecord
from commands.introductions.store import ProfileStore


@dataclass
class CasusState:
    """One object handed to every part; building it touches nothing outside it."""

    services: Services
    settings: CasusSettings
    library: Library
    store: CasusStore
    profiles: ProfileStore
    table: list[str]
    """Every profession key, in the order the meter lists them."""
    submitted: dict[str, Case] = field(default_factory=dict)
    """Approved submissions, as cases; loaded at start and added to on approval."""
    credits: dict[str, str] = field(default_factory=dict)
    """Approved cases whose member wanted their name on it: case id -> member."""
    open_roots: dict[str, int] = field(default_factory=dict)
    """Root event of every open case -> its run id: the reply listener's fast path."""
    loaded: bool = False

    @classmethod
    def build(cls, services: Services) -> CasusState:
        settings = CasusSettings.from_config(services.config)
        table = [p.key for p in services.professions.items]
        return cls(
            services=services,
            settings=settings,
            library=load_library(settings.library, [t.key for t in services.config.themes], table),
            store=CasusStore(services.db, services.clock),
            profiles=ProfileStore(services.db, services.clock),
            table=table,
        )

    async def load(self) -> None:
        """What handlers need, read from the database (jobs may run before start())."""
        if self.loaded:
            return
        for submission in await self.store.submissions(APPROVED):
            self.admit(submission)
        for run in await self.store.runs(OPEN):
            if run.root_event_id:
                self.open_roots[run.root_event_id] = run.id
        self.loaded = True

    # -- the case bank -------------------------------------------------------------------

    def case(self, case_id: str) -> Case | None:
        return self.library.get(case_id) or self.submitted.get(case_id)

    def numbered(self) -> list[str]:
        """Every case a member can name by number: the themes in config order, each bank
        in rotation order. ``!casus lijst`` shows these numbers; ``!casus plaats 3`` takes them."""
        return [case_id for theme in self.services.config.themes for case_id in self.bank(theme.key)]

    def number_of(self, case_id: str) -> int | None:
        ids = self.numbered()
        return ids.index(case_id) + 1 if case_id in ids else None

    def find_case(self, text: str) -> Case | None:
        """A case by its number in ``!casus lijst`` or by its id."""
        cleaned = text.strip().lower().lstrip("#")
        if cleaned.isdigit():
            ids = self.numbered()
            index = int(cleaned) - 1
            return self.case(ids[index]) if 0 <= index < len(ids) else None
        return self.case(cleaned)

    def bank(self, theme: str) -> list[str]:
        """The theme's cases in rotation order: the library, then approved submissions."""
        own = sorted(
            (c for c in self.submitted.values() if c.theme == theme),
            key=lambda c: int(c.id.rsplit("-", 1)[1]),
        )
        return [c.id for c in self.library.for_theme(theme)] + [c.id for c in own]

    def admit(self, submission: SubmissionRecord) -> Case:
        """An approved submission joins the bank (with its member's name, unless anonymous)."""
        case = submitted_case(
            submission.case_id,
            submission.theme,
            submission.title,
            submission.text,
            submission.questions,
            self._default_steps(),
        )
        self.submitted[case.id] = case
        if submission.user_id and not submission.anonymous:
            self.credits[case.id] = submission.user_id
        return case

    def submitter_of(self, case_id: str) -> str | None:
        return self.credits.get(case_id)

    def _default_steps(self) -> dict[str, list[dict[str, str]]]:
        catalogue = self.services.catalogue
        steps: dict[str, list[dict[str, str]]] = {}
        for name in STEPS:
            count = 3 if name == "besluitvorming" else 2
            steps[name] = [
                {lang: catalogue.plain(lang, f"casus.default_question.{name}_{i}") for lang in LANGUAGES}
                for i in range(1, count + 1)
            ]
        return steps

    # -- runs ----------------------------------------------------------------------------

    async def meter(self, run_id: int) -> Meter:
        return perspective_meter(await self.store.contributions(run_id), self.table)

    async def post_in_thread(self, run: RunRecord, rendered: Rendered, txn_id: str) -> None:
        """A step or summary in the case's thread, through the outbox; nobody is pinged."""
        await self.services.outbox.enqueue(
            OutgoingMessage(
                room_id=RoomId(run.room_id),
                plain=rendered.plain,
                html=rendered.html,
                thread_root=EventId(run.root_event_id or ""),
                mentions=(),
                txn_id=txn_id,
            )
        )

    # -- privacy -------------------------------------------------------------------------

    async def erase_member(self, user_id: UserId) -> int:
        """Erase the member's rows, and forget them in memory too: an approved case of
        theirs is posted from now on without their name, restart or not."""
        removed = await self.store.erase_member(user_id)
        for case_id in [c for c, member in self.credits.items() if member == user_id]:
            del self.credits[case_id]
        return removed
