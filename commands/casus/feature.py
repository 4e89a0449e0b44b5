"""Casus prompts: a case posted on a schedule in each theme room, in three steps
(beeldvorming, oordeelsvorming, besluitvorming), a perspective meter that shows which
professions have spoken, invitations to those still missing, a closing summary, and
cases that members bring in themselves.

Nothing is skipped or doubled by a restart: a post is claimed in ``casus_runs``
(unique per theme and slot) before it is sent with a transaction id derived from the
run; steps, the summary and invitations are durable one-off jobs whose messages leave
through the outbox with deterministic transaction ids.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.checks import moderator_only
from bot.context import Context
from bot.errors import UserError
from bot.formatting import Markup
from bot.ids import EventId, RoomId, UserId
from bot.registry import Feature, check, command, listener
from bot.scheduler import MissedPolicy, next_fire_times
from bot.services import Services
from bot.transport import IncomingMessage, OutgoingMessage
from commands.casus.flow import FLOW_NAME, LANGUAGE, SubmitFlow, split_questions
from commands.casus.library import LANGUAGES, STEPS, Case, Library, load_library, submitted_case
from commands.casus.rotation import UNKNOWN, Meter, Pick, perspective_meter, pick_next, upcoming
from commands.casus.settings import CasusSettings, ThemeSchedule
from commands.casus.store import (
    APPROVED,
    CLAIMED,
    CLOSED,
    OPEN,
    PENDING,
    REJECTED,
    CasusStore,
    RunRecord,
    SubmissionRecord,
)
from commands.digest.sources import DigestItem, DigestRequest, DigestSection
from commands.introductions.store import ProfileStore
from commands.stats.sources import StatCount

log = logging.getLogger(__name__)

POST_KIND = "casus.post"
PUBLISH_KIND = "casus.publish"
STEP_KIND = "casus.step"
INVITE_KIND = "casus.invite"
CLOSE_KIND = "casus.close"
INVITE_NUDGE_KIND = "casus.invite"
HINT_NUDGE_KIND = "casus.intro_hint"
DIGEST_ORDER = 25
"""After buddy requests and open questions, before new members."""
# A safety net behind the immediate post: the publish job runs this long after a claim.
PUBLISH_RETRY = timedelta(minutes=2)


def post_job_id(theme: str) -> str:
    return f"{POST_KIND}:{theme}"


def thread_link(room_id: str, event_id: str) -> str:
    return f"https://matrix.to/#/{room_id}/{event_id}"


class Casus(Feature):
    name = "casus"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.settings = CasusSettings.from_config(services.config)
        self.library: Library = load_library(
            self.settings.library,
            [t.key for t in services.config.themes],
            [p.key for p in services.professions.items],
        )
        self.store = CasusStore(services.db, services.clock)
        self.profiles = ProfileStore(services.db, services.clock)
        self.flow = SubmitFlow(services, self._finish_submission)
        self.table = [p.key for p in services.professions.items]
        # Approved submissions, as cases; loaded at start and added to on approval.
        self.submitted: dict[str, Case] = {}
        # Root event of every open case -> its run id: the reply listener's fast path.
        self.open_roots: dict[str, int] = {}
        # Approved cases whose member wanted their name on it: case id -> member.
        self.credits: dict[str, str] = {}
        self._loaded = False
        services.conversations.register(self.flow)
        services.privacy.register("casus", self.store.export_member, self.erase_member)
        always = MissedPolicy.always()
        services.scheduler.register(POST_KIND, self._run_post, always)
        services.scheduler.register(PUBLISH_KIND, self._run_publish, always)
        services.scheduler.register(STEP_KIND, self._run_step, always)
        services.scheduler.register(INVITE_KIND, self._run_invite, always)
        services.scheduler.register(CLOSE_KIND, self._run_close, always)

    # -- start-up ----------------------------------------------------------------------

    async def _load(self) -> None:
        """What handlers need, read from the database (jobs may run before start())."""
        if self._loaded:
            return
        for submission in await self.store.submissions(APPROVED):
            self.submitted[submission.case_id] = self._submission_case(submission)
            if submission.user_id and not submission.anonymous:
                self.credits[submission.case_id] = submission.user_id
        for run in await self.store.runs(OPEN):
            if run.root_event_id:
                self.open_roots[run.root_event_id] = run.id
        self._loaded = True

    async def start(self) -> None:
        await self._load()
        scheduler = self.services.scheduler
        now = self.services.clock.now()
        for theme in self.services.config.themes:
            schedule = self.settings.schedule_of(theme.key)
            if schedule is None or not self.settings.enabled:
                await scheduler.cancel(post_job_id(theme.key))
                continue
            await self.store.schedule_since(theme.key, schedule.cron, schedule.every_weeks, now)
            await scheduler.schedule_cron(
                post_job_id(theme.key),
                POST_KIND,
                schedule.cron,
                {"theme": theme.key},
                timezone=self.services.config.community.timezone,
            )
        # A claim whose post or jobs were cut short by a stop: finish it.
        for run in await self.store.runs(CLAIMED, OPEN):
            if run.status == CLAIMED:
                await scheduler.schedule_once(
                    f"{PUBLISH_KIND}:{run.id}", PUBLISH_KIND, now, {"run_id": run.id}, replace=False
                )
            else:
                await self._schedule_followups(run)

    async def erase_member(self, user_id: UserId) -> int:
        """Erase the member's rows, and forget them in memory too: an approved case of
        theirs is posted from now on without their name, restart or not."""
        removed = await self.store.erase_member(user_id)
        for case_id in [c for c, member in self.credits.items() if member == user_id]:
            del self.credits[case_id]
        return removed

    # -- the case bank -------------------------------------------------------------------

    def case(self, case_id: str) -> Case | None:
        return self.library.get(case_id) or self.submitted.get(case_id)

    def bank(self, theme: str) -> list[str]:
        """The theme's cases in rotation order: the library, then approved submissions."""
        own = sorted(
            (c for c in self.submitted.values() if c.theme == theme),
            key=lambda c: int(c.id.rsplit("-", 1)[1]),
        )
        return [c.id for c in self.library.for_theme(theme)] + [c.id for c in own]

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

    def _submission_case(self, submission: SubmissionRecord) -> Case:
        return submitted_case(
            submission.case_id,
            submission.theme,
            submission.title,
            submission.text,
            submission.questions,
            self._default_steps(),
        )

    # -- scheduled posts -------------------------------------------------------------------

    async def _run_post(self, job_id: str, payload: dict[str, Any]) -> None:
        """A theme's cron fired: claim the slot it stands for and post the next case."""
        await self._load()
        theme = str(payload["theme"])
        schedule = self.settings.schedule_of(theme)
        if schedule is None or not self.settings.enabled:
            return
        occurrence = datetime.fromisoformat(str(payload["occurrence"]))
        since = await self.store.schedule_since(theme, schedule.cron, schedule.every_weeks, occurrence)
        slot = self._due_slot(schedule, occurrence)
        if slot is None or slot < since:
            log.debug("casus: %s has no post due at %s", theme, occurrence.isoformat())
            return
        await self.post_next(theme, f"schedule:{slot.isoformat()}")

    def _due_slot(self, schedule: ThemeSchedule, occurrence: datetime) -> datetime | None:
        """The latest fire time at or before ``occurrence`` in a week the schedule posts in.

        For ``every_weeks: 2`` a fire in an off week still settles the post of the week
        before, if that one was missed while the bot was down.
        """
        zone = self.services.config.community.timezone
        if schedule.week_matches(occurrence, zone):
            return occurrence
        latest: datetime | None = None
        moment = occurrence - timedelta(days=7 * schedule.every_weeks + 1)
        while True:
            fires = next_fire_times(schedule.cron, zone, moment, 1)
            if not fires or fires[0] > occurrence:
                return latest
            if schedule.week_matches(fires[0], zone):
                latest = fires[0]
            moment = fires[0]

    async def post_next(self, theme: str, slot: str, case_id: str | None = None) -> RunRecord | None:
        """Claim ``(theme, slot)`` and post its case (the next of the bank, or ``case_id``)."""
        room = self.services.rooms.room_id(f"theme:{theme}")
        if room is None:
            log.warning("casus: no room for theme %s; nothing posted", theme)
            return None
        bank = self.bank(theme)
        previous = await self.store.current_run(theme)

        def choose(history: list[tuple[str, int]]) -> Pick | None:
            if case_id is not None:
                current = max((r for _, r in history), default=1)
                return Pick(case_id, current)
            return pick_next(bank, history)

        run, created = await self.store.claim_run(theme, slot, room, choose)
        if run is None:
            log.warning("casus: theme %s has no cases; nothing posted", theme)
            return None
        if created:
            if previous is not None and previous.id != run.id:
                # One case per theme at a time: the one before closes with its summary.
                await self.close(previous.id)
            # What is due in the outbox (a summary closing the last case) goes out first.
            await self.services.outbox.deliver_due()
            # The safety net: should the post below be cut short, this job finishes it.
            await self.services.scheduler.schedule_once(
                f"{PUBLISH_KIND}:{run.id}",
                PUBLISH_KIND,
                self.services.clock.now() + PUBLISH_RETRY,
                {"run_id": run.id},
                replace=False,
            )
        return await self.publish(run.id)

    async def _run_publish(self, job_id: str, payload: dict[str, Any]) -> None:
        await self._load()
        await self.publish(int(payload["run_id"]))

    async def publish(self, run_id: int) -> RunRecord | None:
        """Send a claimed run's first post and plan its steps; idempotent."""
        run = await self.store.get_run(run_id)
        if run is None:
            return None
        if run.status == CLAIMED:
            case = self.case(run.case_id)
            if case is None:
                log.error("casus: run %d names unknown case %s; not posted", run.id, run.case_id)
                return run
            language = self.services.config.community.language
            rendered = self.services.catalogue.render(
                language,
                "casus.post.root",
                **self._root_params(language, case, run, perspective_meter([], self.table)),
            )
            event_id = await self.services.transport.send(
                OutgoingMessage(
                    room_id=RoomId(run.room_id),
                    plain=rendered.plain,
                    html=rendered.html,
                    notice=False,
                    txn_id=f"casus.{run.id}.root",
                )
            )
            posted = await self.store.mark_posted(run.id, event_id)
            if posted is None:
                return None
            run = posted
            log.info("casus: run %d (%s, case %s) posted as %s", run.id, run.theme, run.case_id, event_id)
        if run.status == OPEN and run.root_event_id:
            self.open_roots[run.root_event_id] = run.id
            await self._schedule_followups(run)
        return run

    async def _schedule_followups(self, run: RunRecord) -> None:
        """Steps, invitations and the close, from the moment the case was posted."""
        if run.posted_at is None:
            return
        scheduler = self.services.scheduler
        base = run.posted_at
        step_two, step_three = self.settings.step_offsets
        invite = self.settings.invite_offset
        jobs = [
            (f"{STEP_KIND}:{run.id}:2", STEP_KIND, base + step_two, {"run_id": run.id, "step": 2}),
            (f"{STEP_KIND}:{run.id}:3", STEP_KIND, base + step_three, {"run_id": run.id, "step": 3}),
            (f"{INVITE_KIND}:{run.id}:1", INVITE_KIND, base + invite, {"run_id": run.id, "step": 1}),
            (
                f"{INVITE_KIND}:{run.id}:2",
                INVITE_KIND,
                base + step_two + invite,
                {"run_id": run.id, "step": 2},
            ),
            (
                f"{INVITE_KIND}:{run.id}:3",
                INVITE_KIND,
                base + step_three + invite,
                {"run_id": run.id, "step": 3},
            ),
            (f"{CLOSE_KIND}:{run.id}", CLOSE_KIND, base + self.settings.close_offset, {"run_id": run.id}),
        ]
        for job_id, kind, run_at, payload in jobs:
            await scheduler.schedule_once(job_id, kind, run_at, payload, replace=False)

    async def _cancel_followups(self, run_id: int) -> None:
        for job_id in (
            f"{STEP_KIND}:{run_id}:2",
            f"{STEP_KIND}:{run_id}:3",
            f"{INVITE_KIND}:{run_id}:1",
            f"{INVITE_KIND}:{run_id}:2",
            f"{INVITE_KIND}:{run_id}:3",
            f"{CLOSE_KIND}:{run_id}",
        ):
            await self.services.scheduler.cancel(job_id)

    # -- steps and the close ---------------------------------------------------------------

    async def _run_step(self, job_id: str, payload: dict[str, Any]) -> None:
        await self._load()
        run_id, step = int(payload["run_id"]), int(payload["step"])
        run = await self.store.get_run(run_id)
        if run is None or run.status != OPEN or not run.root_event_id:
            return
        await self.store.advance_step(run_id, step)
        case = self.case(run.case_id)
        if case is None:
            return
        language = self.services.config.community.language
        meter = await self.meter(run_id)
        rendered = self.services.catalogue.render(
            language,
            "casus.post.step",
            step=self._step_block(language, case, step),
            footer=self._footer(language, step, meter),
        )
        await self._enqueue_in_thread(run, rendered.plain, rendered.html, f"casus.{run_id}.step{step}")

    async def _run_close(self, job_id: str, payload: dict[str, Any]) -> None:
        await self._load()
        await self.close(int(payload["run_id"]))

    async def close(self, run_id: int) -> bool:
        """Close a run and post its summary in the thread; idempotent. True when closed now."""
        closed_now = await self.store.close_run(run_id)
        run = await self.store.get_run(run_id)
        if run is None or run.status != CLOSED or not run.root_event_id:
            return False
        self.open_roots.pop(run.root_event_id, None)
        if closed_now:
            await self._cancel_followups(run_id)
        language = self.services.config.community.language
        contributions = await self.store.contributions(run_id)
        meter = perspective_meter(contributions, self.table)
        contributors = list(dict.fromkeys(user for user, _ in contributions))
        lines = [
            self.services.catalogue.fragment(
                language,
                "casus.summary.line",
                who=self._who(language, profession, members),
                members=members,
                messages=messages,
            )
            for profession, members, messages in meter.heard
        ]
        thanks = (
            self.services.catalogue.fragment(
                language,
                "casus.summary.thanks",
                names=Markup.join(
                    [
                        self.services.catalogue.fragment(language, "casus.mention", user=u)
                        for u in contributors
                    ],
                    ", ",
                ),
            )
            if contributors
            else self.services.catalogue.fragment(language, "casus.summary.no_one")
        )
        missing = (
            self.services.catalogue.fragment(
                language,
                "casus.summary.missing",
                list=", ".join(self._who(language, p, 1) for p in meter.missing),
            )
            if meter.missing
            else self.services.catalogue.fragment(language, "casus.summary.all_heard")
        )
        case = self.case(run.case_id)
        rendered = self.services.catalogue.render(
            language,
            "casus.summary.post",
            title=case.title_in(language) if case else run.case_id,
            members=meter.members,
            messages=len(contributions),
            lines=Markup.join(lines),
            missing=missing,
            thanks=thanks,
        )
        # Names are links, but nobody is pinged: thanks, not a call to come back.
        await self._enqueue_in_thread(run, rendered.plain, rendered.html, f"casus.{run_id}.summary")
        return closed_now

    async def _enqueue_in_thread(self, run: RunRecord, plain: str, html: str, txn_id: str) -> None:
        await self.services.outbox.enqueue(
            OutgoingMessage(
                room_id=RoomId(run.room_id),
                plain=plain,
                html=html,
                thread_root=EventId(run.root_event_id or ""),
                mentions=(),
                txn_id=txn_id,
            )
        )

    # -- rendering -------------------------------------------------------------------------

    def _who(self, language: str, profession: str, count: int) -> str:
        """ "3 arbeidsdeskundigen", "1 jobcoach"; ``count`` 1 without the number for lists."""
        catalogue = self.services.catalogue
        form = "one" if count == 1 else "other"
        key = f"casus.who.{profession}.{form}"
        if catalogue.has(key):
            name = catalogue.plain(language, key)
        else:
            found = self.services.professions.get(profession)
            name = found.label(language) if found else profession
        return name

    def meter_text(self, language: str, meter: Meter) -> str:
        catalogue = self.services.catalogue
        heard = ", ".join(f"{members} {self._who(language, p, members)}" for p, members, _ in meter.heard)
        missing = ", ".join(self._who(language, p, 1) for p in meter.missing)
        first = (
            catalogue.plain(language, "casus.meter.heard", list=heard)
            if heard
            else catalogue.plain(language, "casus.meter.nobody")
        )
        second = (
            catalogue.plain(language, "casus.meter.missing", list=missing)
            if missing
            else catalogue.plain(language, "casus.meter.complete")
        )
        return f"{first} · {second}"

    async def meter(self, run_id: int) -> Meter:
        return perspective_meter(await self.store.contributions(run_id), self.table)

    def _theme_label(self, language: str, theme: str) -> str:
        found = next((t for t in self.services.config.themes if t.key == theme), None)
        return found.label(language) if found else theme

    def _step_block(self, language: str, case: Case, step: int) -> Markup:
        catalogue = self.services.catalogue
        questions = Markup.join(
            [
                catalogue.fragment(language, "casus.post.question", question=q)
                for q in case.questions(step, language)
            ]
        )
        return catalogue.fragment(
            language,
            "casus.post.step_block",
            number=step,
            name=catalogue.plain(language, f"casus.step.{STEPS[step - 1]}"),
            questions=questions,
        )

    def _footer(self, language: str, step: int, meter: Meter) -> Markup:
        catalogue = self.services.catalogue
        if step < len(STEPS):
            offsets = (timedelta(0), *self.settings.step_offsets)
            days = round((offsets[step] - offsets[step - 1]).total_seconds() / 86400, 1)
            next_step = catalogue.fragment(
                language,
                "casus.post.next_step",
                days=f"{days:g}",
                number=step + 1,
                name=catalogue.plain(language, f"casus.step.{STEPS[step]}"),
            )
        else:
            days = round(self.settings.close_days - self.settings.step_days[1], 1)
            next_step = catalogue.fragment(language, "casus.post.closes", days=f"{days:g}")
        return catalogue.fragment(
            language, "casus.post.footer", next=next_step, meter=self.meter_text(language, meter)
        )

    def _root_params(self, language: str, case: Case, run: RunRecord, meter: Meter) -> dict[str, Any]:
        catalogue = self.services.catalogue
        credit = Markup("", "")
        submission_owner = self._submitter_of(case.id)
        if submission_owner:
            credit = catalogue.fragment(
                language,
                "casus.post.submitted_by",
                member=catalogue.fragment(language, "casus.mention", user=submission_owner),
            )
        return {
            "title": case.title_in(language),
            "theme": self._theme_label(language, case.theme),
            "text": case.text_in(language),
            "credit": credit,
            "step": self._step_block(language, case, 1),
            "footer": self._footer(language, 1, meter),
        }

    def _submitter_of(self, case_id: str) -> str | None:
        return self.credits.get(case_id)

    # -- replies in a case thread ------------------------------------------------------------

    @listener(IncomingMessage)
    async def count_reply(self, message: IncomingMessage) -> None:
        """Count a reply in an open case's thread for the replier's profession."""
        root = message.thread_root
        if root is None:
            return
        run_id = self.open_roots.get(root)
        if run_id is None:
            return
        profile = await self.profiles.get(message.sender)
        profession = profile.profession if profile is not None else UNKNOWN
        run = await self.store.get_run(run_id)
        step = run.step if run is not None else 1
        counted = await self.store.add_contribution(
            message.event_id, run_id, message.sender, profession, step
        )
        if counted and profile is None:
            await self._hint_intro(message.sender, message.room_id)

    async def _hint_intro(self, user_id: UserId, room_id: RoomId) -> None:
        """One friendly DM, ever, inviting a member without a profile to ``!intro``."""
        marker = await self.store.claim_intro_hint(user_id)
        if marker is None:
            return
        await self.services.nudges.nudge(
            user_id,
            HINT_NUDGE_KIND,
            "casus.intro_hint",
            {
                "theme": self._theme_label(
                    self.services.config.community.language, self.services.rooms.theme_of(room_id) or ""
                )
            },
            dedupe_key=f"casus:intro-hint:{marker[:40]}",
        )

    # -- inviting the missing perspectives ----------------------------------------------------

    async def _run_invite(self, job_id: str, payload: dict[str, Any]) -> None:
        await self._load()
        await self.invite_missing(int(payload["run_id"]), int(payload["step"]))

    async def invite_missing(self, run_id: int, step: int) -> int:
        """Invite up to N listed members of each missing profession who chose the theme;
        returns how many invitations were planned."""
        run = await self.store.get_run(run_id)
        if run is None or run.status != OPEN or not run.root_event_id or run.posted_at is None:
            return 0
        case = self.case(run.case_id)
        if case is None:
            return 0
        contributions = await self.store.contributions(run_id)
        meter = perspective_meter(contributions, self.table)
        if not meter.missing or self.settings.invite_per_profession == 0:
            return 0
        spoken = {user for user, _ in contributions}
        invited = await self.store.invited(run_id)
        opted_out = await self.store.opted_out()
        bot_user = self.services.transport.own_user_id
        candidates = [
            record
            for record in await self.profiles.listed()
            if record.profession in meter.missing
            and run.theme in record.themes
            and record.user_id not in spoken
            and record.user_id not in opted_out
            and record.user_id != bot_user
        ]

        def fair(user_id: str) -> str:
            # A stable shuffle per case: the same few are not always asked first.
            return hashlib.sha256(f"{run_id}:{user_id}".encode()).hexdigest()

        closes_at = run.posted_at + self.settings.close_offset
        link = thread_link(run.room_id, run.root_event_id)
        planned = 0
        for profession in meter.missing:
            already = sum(1 for r in candidates if r.profession == profession and r.user_id in invited)
            room_left = self.settings.invite_per_profession - already
            waiting = sorted(
                (r for r in candidates if r.profession == profession and r.user_id not in invited),
                key=lambda r: fair(r.user_id),
            )
            for record in waiting[: max(room_left, 0)]:
                if not await self.store.add_invitation(run_id, record.user_id, profession, step):
                    continue
                language = await self.services.members.language_of(UserId(record.user_id))
                question = case.role_question(profession, language) or self.services.catalogue.plain(
                    language, "casus.invite.generic_question", profession=self._who(language, profession, 1)
                )
                nudge_id = await self.services.nudges.nudge(
                    record.user_id,
                    INVITE_NUDGE_KIND,
                    "casus.invite.dm",
                    {
                        "title": case.title_in(language),
                        "theme": self._theme_label(language, run.theme),
                        "profession": self._who(language, profession, 1),
                        "link": link,
                        "question": question,
                    },
                    dedupe_key=f"casus:invite:{run_id}:{record.user_id}",
                    expires_at=closes_at,
                )
                await self.store.set_invitation_nudge(run_id, record.user_id, nudge_id)
                planned += 1
        if planned:
            log.info("casus: run %d step %d: %d invitation(s) planned", run_id, step, planned)
        return planned

    # -- digest and stats ----------------------------------------------------------------

    async def digest_sections(self, requests: Sequence[DigestRequest]) -> Mapping[str, DigestSection]:
        """Open cases in the member's themes where their profession has not spoken yet."""
        wanted = [r for r in requests if r.profession and r.themes]
        if not wanted:
            return {}
        open_runs = await self.store.open_runs_heard()
        if not open_runs:
            return {}
        catalogue = self.services.catalogue
        lines: dict[tuple[str, int], Markup] = {}  # one line per case and language, shared

        def line(language: str, run: RunRecord) -> Markup:
            if (language, run.id) not in lines:
                case = self.case(run.case_id)
                lines[(language, run.id)] = catalogue.fragment(
                    language,
                    "casus.digest.line",
                    title=case.title_in(language) if case else run.case_id,
                    theme=self._theme_label(language, run.theme),
                    link=thread_link(run.room_id, run.root_event_id or ""),
                )
            return lines[(language, run.id)]

        sections: dict[str, DigestSection] = {}
        for request in wanted:
            profession = request.profession or ""
            found = [
                run for run, heard in open_runs if run.theme in request.themes and profession not in heard
            ]
            if not found:
                continue
            language = request.language
            sections[request.user_id] = DigestSection(
                DIGEST_ORDER,
                catalogue.fragment(
                    language, "casus.digest.title", profession=self._who(language, profession, 1)
                ),
                tuple(DigestItem(line(language, run), run.root_event_id) for run in found),
            )
        return sections

    async def stats_counts(self, since: datetime, until: datetime) -> list[StatCount]:
        """Replies per profession in the period; cases posted in it, and how many of them
        heard three or more professions."""
        per_profession, cases, wide = await self.store.stats(since, until)
        counts = [StatCount("casus_contributions", p, n) for p, n in sorted(per_profession.items())]
        counts.append(StatCount("casus_cases", None, cases))
        counts.append(StatCount("casus_cases_wide", None, wide))
        return counts

    # -- commands ------------------------------------------------------------------------

    def _theme_here(self, ctx: Context) -> str | None:
        return self.services.rooms.theme_of(ctx.room_id)

    @command("casus", english="case")
    async def show(self, ctx: Context) -> None:
        """The current case of this theme room: its step, a link and the perspective meter."""
        await self._load()
        theme = self._theme_here(ctx)
        themes = [theme] if theme else [t.key for t in self.services.config.themes]
        lines: list[Markup] = []
        for key in themes:
            run = await self.store.current_run(key)
            if run is None or run.status != OPEN or not run.root_event_id:
                continue
            case = self.case(run.case_id)
            lines.append(
                ctx.fragment(
                    "casus.show.line",
                    theme=self._theme_label(ctx.language, key),
                    title=case.title_in(ctx.language) if case else run.case_id,
                    id=run.case_id,
                    number=run.step,
                    step=ctx.text(f"casus.step.{STEPS[run.step - 1]}"),
                    link=thread_link(run.room_id, run.root_event_id),
                    meter=self.meter_text(ctx.language, await self.meter(run.id)),
                )
            )
        if not lines:
            raise UserError("casus.show.none_here" if theme else "casus.show.none")
        await ctx.reply("casus.show.report", lines=Markup.join(lines, "\n\n"))

    @command("casus lijst", aliases=["casussen"], english="case list")
    async def list_cases(self, ctx: Context, theme: str | None = None) -> None:
        """The cases of this theme (or of every theme), each with its id."""
        await self._load()
        wanted = self._theme_key(theme) if theme else self._theme_here(ctx)
        themes = [wanted] if wanted else [t.key for t in self.services.config.themes]
        blocks: list[Markup] = []
        for key in themes:
            rows = []
            for case_id in self.bank(key):
                case = self.case(case_id)
                if case is not None:
                    rows.append(ctx.fragment("casus.list.row", id=case.id, title=case.title_in(ctx.language)))
            if rows:
                blocks.append(
                    ctx.fragment(
                        "casus.list.theme",
                        theme=self._theme_label(ctx.language, key),
                        count=len(rows),
                        rows=Markup.join(rows),
                    )
                )
        if not blocks:
            raise UserError("casus.list.empty")
        await ctx.reply("casus.list.report", blocks=Markup.join(blocks, "\n\n"))

    def _theme_key(self, text: str) -> str:
        lowered = text.strip().lower()
        for theme in self.services.config.themes:
            if lowered == theme.key or lowered in {n.lower() for n in theme.name.values()}:
                return theme.key
        raise UserError(
            "casus.error.unknown_theme",
            value=text[:40],
            known=", ".join(t.key for t in self.services.config.themes),
        )

    @command("casus planning", aliases=["casus rooster"], english="case schedule")
    async def planning(self, ctx: Context) -> None:
        """The next posts per theme: when, and which case."""
        await self._load()
        now = self.services.clock.now()
        zone = self.services.config.community.timezone
        rows: list[Markup] = []
        for theme in self.services.config.themes:
            schedule = self.settings.schedule_of(theme.key)
            if schedule is None or not self.settings.enabled:
                continue
            moments = schedule.next_posts(now, zone, 2)
            names = upcoming(self.bank(theme.key), await self.store.history(theme.key), len(moments))
            for moment, case_id in zip(moments, names, strict=False):
                case = self.case(case_id)
                rows.append(
                    ctx.fragment(
                        "casus.planning.row",
                        theme=theme.label(ctx.language),
                        when=ctx.when(moment),
                        title=case.title_in(ctx.language) if case else case_id,
                        id=case_id,
                    )
                )
        if not rows:
            raise UserError("casus.planning.none")
        await ctx.reply("casus.planning.report", rows=Markup.join(rows))

    @command("casus plaats", aliases=["casus post"], english="case post")
    @check(moderator_only)
    async def post_now(self, ctx: Context, case_id: str) -> None:
        """Post a case now in its theme room (moderators)."""
        await self._load()
        case = self.case(case_id.strip().lower())
        if case is None:
            raise UserError("casus.error.unknown_case", value=case_id[:40])
        run = await self.post_next(case.theme, f"manual:{ctx.message.event_id}", case_id=case.id)
        if run is None or not run.root_event_id:
            raise UserError("casus.error.no_room", theme=self._theme_label(ctx.language, case.theme))
        await ctx.reply(
            "casus.posted",
            title=case.title_in(ctx.language),
            theme=self._theme_label(ctx.language, case.theme),
            link=thread_link(run.room_id, run.root_event_id),
        )

    @command("casus sluit", aliases=["casus afsluiten"], english="case close")
    @check(moderator_only)
    async def close_now(self, ctx: Context) -> None:
        """Close the current case of this theme room with its summary (moderators)."""
        await self._load()
        theme = self._theme_here(ctx)
        if theme is None:
            raise UserError("casus.error.not_a_theme_room")
        run = await self.store.current_run(theme)
        if run is None or run.status != OPEN:
            raise UserError("casus.show.none_here")
        await self.close(run.id)
        await self.services.outbox.deliver_due()
        await ctx.reply("casus.closed")

    @command("casus uitnodigingen", aliases=["casus uitnodiging"], english="case invitations")
    async def invitations(self, ctx: Context, wanted: bool) -> None:
        """Switch invitations to bring your profession's view to a case off (uit) or on (aan)."""
        await self.store.set_invitations(ctx.sender, wanted)
        await ctx.reply("casus.invitations.on" if wanted else "casus.invitations.off")

    # -- members' own cases ----------------------------------------------------------------

    @command("casus indienen", aliases=["casus inbrengen"], english="case submit")
    async def submit(self, ctx: Context) -> None:
        """Bring in a case of your own: a few questions in a private chat."""
        if ctx.is_direct:
            dm = ctx.room_id
        else:
            dm = await self.services.transport.direct_room(ctx.sender)
            await ctx.reply("casus.submit.continue_in_dm")
        await self.services.conversations.start(ctx, FLOW_NAME, dm, {LANGUAGE: ctx.language})

    async def _finish_submission(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        if not completed:
            await ctx.reply("casus.submit.stopped")
            return
        record = await self.store.add_submission(
            ctx.sender,
            str(answers["theme"]),
            str(answers["title"]),
            str(answers["text"]),
            split_questions(str(answers.get("questions") or "")),
            answers.get("anonymous") != "no",
            ctx.language,
        )
        log.info("casus: submission %d waits for a moderator", record.id)
        await ctx.reply("casus.submit.thanks", id=record.id)

    @command("casus wachtrij", aliases=["casus queue"], english="case queue")
    @check(moderator_only)
    async def queue(self, ctx: Context) -> None:
        """Cases members brought in that wait for a moderator."""
        pending = await self.store.submissions(PENDING)
        if not pending:
            await ctx.reply("casus.queue.empty")
            return
        rows = [
            ctx.fragment(
                "casus.queue.row",
                id=s.id,
                theme=self._theme_label(ctx.language, s.theme),
                title=s.title,
                member=ctx.fragment("casus.mention", user=s.user_id or "?"),
                anonymous=ctx.text("casus.queue.anonymous" if s.anonymous else "casus.queue.named"),
                text=s.text if len(s.text) <= 600 else s.text[:599] + "…",
            )
            for s in pending
        ]
        # Waiting cases (and who brought them in) stay out of community rooms.
        if ctx.is_direct:
            await ctx.reply("casus.queue.report", count=len(pending), rows=Markup.join(rows, "\n\n"))
            return
        await ctx.send_dm("casus.queue.report", count=len(pending), rows=Markup.join(rows, "\n\n"))
        await ctx.reply("casus.queue.sent_to_dm", count=len(pending))

    @command("casus goedkeuren", aliases=["casus approve"], english="case approve")
    @check(moderator_only)
    async def approve(self, ctx: Context, submission_id: int) -> None:
        """Approve a brought-in case: it joins its theme's rotation (moderators)."""
        record = await self.store.decide(submission_id, APPROVED, None)
        if record is None:
            raise UserError("casus.error.no_pending", id=submission_id)
        case = self._submission_case(record)
        self.submitted[case.id] = case
        if record.user_id and not record.anonymous:
            self.credits[case.id] = record.user_id
        await self._tell_submitter(record, "casus.submit.approved")
        await ctx.reply("casus.queue.approved", id=record.id, case=case.id)

    @command("casus afwijzen", aliases=["casus reject"], english="case reject")
    @check(moderator_only)
    async def reject(self, ctx: Context, submission_id: int, *, reason: str) -> None:
        """Decline a brought-in case, with a reason for the member (moderators)."""
        record = await self.store.decide(submission_id, REJECTED, reason.strip()[:500])
        if record is None:
            raise UserError("casus.error.no_pending", id=submission_id)
        await self._tell_submitter(record, "casus.submit.rejected")
        await ctx.reply("casus.queue.rejected", id=record.id)

    async def _tell_submitter(self, record: SubmissionRecord, key: str) -> None:
        if not record.user_id:
            return
        user = UserId(record.user_id)
        language = await self.services.members.language_of(user)
        rendered = self.services.catalogue.render(
            language,
            key,
            title=record.title,
            theme=self._theme_label(language, record.theme),
            reason=record.reason or "",
        )
        room = await self.services.transport.direct_room(user)
        await self.services.outbox.enqueue(
            OutgoingMessage(
                room_id=room,
                plain=rendered.plain,
                html=rendered.html,
                txn_id=f"casus.sub.{record.id}.{record.status}",
            )
        )
