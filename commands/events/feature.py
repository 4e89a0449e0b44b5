"""Events: announcements, sign-ups with a waitlist, reminders, calendar files,
attendance, accreditation and evaluations."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.checks import dm_only
from bot.context import Context
from bot.converters import Options, parse_user_id
from bot.errors import CheckFailure, UserError
from bot.formatting import Markup, Rendered
from bot.i18n import format_date, format_time
from bot.ids import EventId, RoomId, UserId
from bot.registry import Feature, check, command, listener
from bot.scheduler import MissedPolicy
from bot.services import Services
from bot.transport import IncomingReaction, OutgoingMessage, Upload
from commands.digest.sources import ITEMS_SHOWN, DigestItem, DigestRequest, DigestSection
from commands.events import calendar
from commands.events.flows import (
    CONFIRM_FLOW,
    CREATE_FLOW,
    EVALUATION_FLOW,
    EVENT_ID,
    EVENT_IDS,
    KNOWN_PROFESSION,
    ConfirmFlow,
    CreateFlow,
    EvaluationFlow,
)
from commands.events.planning import (
    Advice,
    Busy,
    Draft,
    complete,
    parse_options,
    planning_advice,
    points_of,
    to_utc,
)
from commands.events.records import EventRecord, RsvpOutcome, RsvpRecord
from commands.events.settings import EventSettings, ReminderOffset
from commands.events.store import (
    ANNOUNCED,
    CANCELLED,
    DRAFT,
    GOING,
    MAYBE,
    NOT_GOING,
    WAITING,
    EventStore,
    NewEvent,
)
from commands.introductions.store import ProfileStore
from commands.stats.sources import StatCount

log = logging.getLogger(__name__)

DIGEST_ORDER = 40
"""Last in the digest: upcoming events."""
REMIND_KIND = "events.remind"
EVALUATE_KIND = "events.evaluate"
REACTIONS = {"✅": GOING, "✔": GOING, "👍": GOING, "🤔": MAYBE, "❌": NOT_GOING, "👎": NOT_GOING}
SERIES_STEPS = ("beeldvorming", "oordeelsvorming", "besluitvorming")
EVALUATION_LATE = timedelta(days=7)
# A reminder is prepared this long before it is due and leaves the outbox when due,
# so the member gets it on time rather than a database round trip later.
REMINDER_LEAD = timedelta(seconds=2)


def remind_job_id(event_id: int, offset: ReminderOffset) -> str:
    return f"events:remind:{event_id}:{offset.label}"


def reminder_time(starts_at: datetime, offset: ReminderOffset, timezone: str) -> datetime:
    """When a reminder is due. Whole days and weeks count on the wall clock ("a week
    before, same time"), also across a daylight-saving change; hours and minutes are
    exact durations."""
    if offset.label[-1] in ("d", "w"):
        wall = starts_at.astimezone(ZoneInfo(timezone)).replace(tzinfo=None) - offset.delta
        return to_utc(wall.date(), wall.time(), timezone)
    return starts_at - offset.delta


def evaluate_job_id(event_id: int) -> str:
    return f"events:evaluate:{event_id}"


def _reaction_key(key: str) -> str:
    return key.replace("\ufe0f", "").strip()


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:20]


async def organiser_only(ctx: Context) -> None:
    """Moderators, admins and the organisers named in the config."""
    feature = ctx.command.feature if ctx.command is not None else None
    organisers = feature.settings.organisers if isinstance(feature, Events) else ()
    if ctx.sender in organisers:
        return
    if not await ctx.services.roles.is_moderator(ctx.sender):
        raise CheckFailure("events.error.organisers_only")


class Events(Feature):
    name = "events"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.settings = EventSettings.from_config(services.config)
        self.timezone = services.config.community.timezone
        self.store = EventStore(services.db, services.clock, services.config.matrix.server_name)
        self.profiles = ProfileStore(services.db, services.clock)
        self.create_flow = CreateFlow(services, self._finish_create)
        services.conversations.register(self.create_flow)
        services.conversations.register(ConfirmFlow(self._finish_confirm))
        services.conversations.register(EvaluationFlow(services, self._finish_evaluation))
        services.privacy.register("events", self.store.export_member, self.erase_member)
        # One job kind per offset: a reminder is still worth sending while the event has
        # not started, so an offset's job may run at most that offset late.
        for offset in self.settings.reminders:
            services.scheduler.register(
                f"{REMIND_KIND}.{offset.label}", self._remind, MissedPolicy.within(offset.delta)
            )
        services.scheduler.register(EVALUATE_KIND, self._evaluate, MissedPolicy.within(EVALUATION_LATE))
        self._card_locks: dict[int, asyncio.Lock] = {}
        self._stale_cards: set[int] = set()

    async def start(self) -> None:
        if self.services.rooms.room_id(self.settings.room) is None:
            log.warning("no %r room is configured: events cannot be announced", self.settings.room)
        await self.rebuild_jobs()

    # -- jobs ------------------------------------------------------------------------

    def _plan(self, event_id: int, starts_at: datetime, ends_at: datetime) -> dict[str, tuple[str, datetime]]:
        """Every job an announced event needs: job id -> (kind, run_at)."""
        jobs: dict[str, tuple[str, datetime]] = {}
        for offset in self.settings.reminders:
            jobs[remind_job_id(event_id, offset)] = (
                f"{REMIND_KIND}.{offset.label}",
                reminder_time(starts_at, offset, self.timezone) - REMINDER_LEAD,
            )
        if self.settings.evaluation_enabled:
            jobs[evaluate_job_id(event_id)] = (EVALUATE_KIND, self._evaluation_moment(ends_at))
        return jobs

    def _evaluation_moment(self, ends_at: datetime) -> datetime:
        local_day = ends_at.astimezone(ZoneInfo(self.timezone)).date()
        day = local_day + timedelta(days=self.settings.evaluation_days_after)
        moment = to_utc(day, self.settings.evaluation_time, self.timezone)
        return max(moment, ends_at)

    async def rebuild_jobs(self) -> int:
        """Make sure every announced event has its jobs; returns how many were added.

        The jobs' rows are the truth and the scheduler arms them at start; this only
        adds what is missing (an event announced just before a crash), all in one
        transaction."""
        now = self.services.clock.now()
        planned = [
            (job_id, kind, run_at, {"event": event_id})
            for event_id, starts_at, ends_at in await self.store.schedule_rows(now)
            for job_id, (kind, run_at) in self._plan(event_id, starts_at, ends_at).items()
            if run_at > now
        ]
        added = await self.services.scheduler.schedule_many(planned)
        if added:
            log.info("events: %d missing job(s) scheduled", added)
        return added

    async def _schedule(self, event: EventRecord) -> None:
        """(Re)schedule an event's reminders and evaluation from its current times."""
        now = self.services.clock.now()
        for job_id, (kind, run_at) in self._plan(event.id, event.starts_at, event.ends_at).items():
            if run_at > now:
                await self.services.scheduler.schedule_once(job_id, kind, run_at, {"event": event.id})
            else:
                await self.services.scheduler.cancel(job_id)

    async def _unschedule(self, event: EventRecord) -> None:
        for job_id in self._plan(event.id, event.starts_at, event.ends_at):
            await self.services.scheduler.cancel(job_id)

    async def _remind(self, job_id: str, payload: dict[str, Any]) -> None:
        """Send one offset's reminder to everyone going (reminders on), in their language."""
        event = await self.store.get(int(payload["event"]))
        label = job_id.rsplit(":", 1)[1]
        if event is None or event.status != ANNOUNCED:
            return
        now = self.services.clock.now()
        if now >= event.starts_at:
            log.warning("reminder %s missed: event %d has started", job_id, event.id)
            return
        offset = next((o for o in self.settings.reminders if o.label == label), None)
        closer = [
            o
            for o in self.settings.reminders
            if offset is not None
            and o.delta < offset.delta
            and reminder_time(event.starts_at, o, self.timezone) - REMINDER_LEAD <= now
        ]
        if closer:
            # Late (the bot was down), and a nearer reminder is due too: that one goes.
            log.warning("reminder %s skipped: reminder %s is due as well", job_id, closer[0].label)
            return
        due = reminder_time(event.starts_at, offset, self.timezone) if offset else now
        late = now - due
        if late > timedelta(seconds=60):
            log.info("reminder %s is sent late (%ds after it was due)", job_id, int(late.total_seconds()))
        due = max(due, now)
        stamp = int(event.starts_at.timestamp())
        going = await self.store.going_with_reminders(event.id)
        # The text depends on the language only: rendered once per language, not per member.
        texts: dict[str, Rendered] = {}
        messages: list[OutgoingMessage] = []
        try:
            for rsvp in going:
                user = UserId(rsvp.user_id)
                language = await self.services.members.language_of(user)
                if language not in texts:
                    texts[language] = self.services.catalogue.render(
                        language,
                        "events.reminder",
                        title=event.title,
                        when=self._when(event, language),
                        where=self._where(event, language),
                        until=self._until(event, language),
                        id=event.id,
                    )
                rendered = texts[language]
                room = await self.services.transport.direct_room(user)
                messages.append(
                    OutgoingMessage(
                        room_id=room,
                        plain=rendered.plain,
                        html=rendered.html,
                        txn_id=f"ev.remind.{event.id}.{label}.{rsvp.id}.{stamp}",
                    )
                )
        finally:
            # One write for the whole fan-out. Should a member's chat fail to open, those
            # before them are queued all the same; the job's retry adds the rest (the
            # transaction ids make the repeat harmless).
            await self.services.outbox.enqueue_many(messages, due_at=due)
        log.info("reminder %s queued for %d member(s)", job_id, len(going))

    async def _evaluate(self, job_id: str, payload: dict[str, Any]) -> None:
        """The day after: every attendee gets the evaluation in their DM."""
        event = await self.store.get(int(payload["event"]))
        if event is None or event.status != ANNOUNCED:
            return
        attendees = await self.store.attendees(event.id)
        if not attendees:
            # No attendance recorded: those who were going are asked.
            attendees = [r.user_id for r in await self.store.rsvps(event.id) if r.status == GOING]
        for user_id in attendees:
            await self._invite_evaluation(event, UserId(user_id))

    async def _invite_evaluation(self, event: EventRecord, user: UserId) -> None:
        from sqlalchemy.exc import IntegrityError

        from bot.storage.models import Conversation

        language = await self.services.members.language_of(user)
        room = await self.services.transport.direct_room(user)
        profile = await self.profiles.get(user)
        answers: dict[str, Any] = {EVENT_ID: event.id}
        if profile is not None:
            answers["profession"] = profile.profession
            answers[KNOWN_PROFESSION] = True
        opened = False
        try:
            async with self.services.db.transaction() as session:
                if await session.get(Conversation, user) is None:
                    self.services.conversations.open_in(session, user, EVALUATION_FLOW, room, answers)
                    opened = True
        except IntegrityError:
            opened = False
        key = "events.evaluation.invite" if opened else "events.evaluation.invite_later"
        rendered = self.services.catalogue.render(
            language,
            key,
            title=event.title,
            id=event.id,
            question=self.services.catalogue.fragment(language, "events.evaluation.ask.worked"),
        )
        await self.services.outbox.enqueue(
            OutgoingMessage(
                room_id=room,
                plain=rendered.plain,
                html=rendered.html,
                txn_id=f"ev.evaluate.{event.id}.{_short(user)}",
            )
        )

    # -- rendering -------------------------------------------------------------------

    def _when(self, event: EventRecord, language: str) -> str:
        start = event.starts_at.astimezone(ZoneInfo(self.timezone))
        day = format_date(start.date(), language)
        return self.services.catalogue.plain(
            language,
            "events.card.when_value",
            day=day,
            start=format_time(event.starts_at, language, self.timezone),
            end=format_time(event.ends_at, language, self.timezone),
        )

    def _until(self, event: EventRecord, language: str) -> str:
        now = self.services.clock.now()
        hours = max(int((event.starts_at - now).total_seconds() // 3600), 0)
        if hours >= 48:
            return self.services.catalogue.plain(language, "events.until.days", days=round(hours / 24))
        if hours >= 1:
            return self.services.catalogue.plain(language, "events.until.hours", hours=hours)
        return self.services.catalogue.plain(language, "events.until.soon")

    def _where(self, event: EventRecord, language: str) -> str:
        parts = [p for p in (event.place, event.link) if p]
        return " · ".join(parts) if parts else self.services.catalogue.plain(language, "events.card.tbd")

    def _audience(self, event: EventRecord, language: str) -> str:
        if not event.audience:
            return self.services.catalogue.plain(language, "events.card.everyone")
        labels = []
        for key in event.audience:
            found = self.services.professions.get(key)
            labels.append(found.label(language) if found else key)
        return ", ".join(labels)

    def _theme(self, event: EventRecord, language: str) -> str | None:
        for theme in self.services.config.themes:
            if theme.key == event.theme:
                return theme.label(language)
        return None

    def card(self, event: EventRecord, language: str, counts: dict[str, int]) -> Markup:
        """The announcement: what, when, where, programme, points, lunch, places, who for."""
        c = self.services.catalogue
        lines: list[Markup] = []
        if event.series_id and event.series_part:
            step = (
                c.plain(language, f"events.series.step.{SERIES_STEPS[event.series_part - 1]}")
                if event.series_size == 3
                else ""
            )
            lines.append(
                c.fragment(
                    language, "events.card.series", part=event.series_part, size=event.series_size, step=step
                )
            )
        lines.append(c.fragment(language, "events.card.when", when=self._when(event, language)))
        lines.append(
            c.fragment(
                language,
                "events.card.where",
                form=c.plain(language, f"events.form.{event.form}"),
                where=self._where(event, language),
            )
        )
        theme = self._theme(event, language)
        if theme:
            lines.append(c.fragment(language, "events.card.theme", theme=theme))
        if event.programme:
            lines.append(c.fragment(language, "events.card.programme", programme=event.programme))
        if event.accreditation:
            lines.append(c.fragment(language, "events.card.accreditation", accreditation=event.accreditation))
        if event.lunch is not None:
            lines.append(
                c.fragment(language, "events.card.lunch_yes" if event.lunch else "events.card.lunch_no")
            )
        lines.append(c.fragment(language, "events.card.audience", audience=self._audience(event, language)))
        lines.append(self._places(event, language, counts))
        header = "events.card.cancelled" if event.status == CANCELLED else "events.card.title"
        how = (
            c.fragment(language, "events.card.how_cancelled")
            if event.status == CANCELLED
            else c.fragment(language, "events.card.how", id=event.id)
        )
        return c.fragment(
            language,
            "events.card.layout",
            header=c.fragment(language, header, title=event.title, id=event.id),
            lines=Markup.join(lines),
            how=how,
        )

    def _places(self, event: EventRecord, language: str, counts: dict[str, int]) -> Markup:
        c = self.services.catalogue
        going, waiting = counts.get(GOING, 0), counts.get(WAITING, 0)
        if event.capacity is None:
            return c.fragment(language, "events.card.places_open", going=going)
        left = max(event.capacity - going, 0)
        if left:
            return c.fragment(language, "events.card.places_left", left=left, capacity=event.capacity)
        return c.fragment(language, "events.card.places_full", capacity=event.capacity, waiting=waiting)

    def _ics(self, event: EventRecord, language: str) -> bytes:
        description = self.services.catalogue.plain(
            language,
            "events.ics.description",
            programme=event.programme or "",
            accreditation=event.accreditation or "-",
            id=event.id,
        )
        return calendar.build_ics(event, self.timezone, description, self.services.config.community.name)

    # -- announcing ------------------------------------------------------------------

    async def _post_card(self, event: EventRecord) -> None:
        """Post (or replace) the card in the events room, with the calendar file."""
        room = self.services.rooms.room_id(self.settings.room)
        if room is None:
            log.warning("no %s room: card of event %d not posted", self.settings.room, event.id)
            return
        language = self.services.config.community.language
        counts = (await self.store.counts([event.id]))[event.id]
        rendered = self.services.catalogue.render(
            language, "events.card.message", card=self.card(event, language, counts)
        )
        if event.card_event_id and event.card_room_id:
            await self.services.transport.redact(
                RoomId(event.card_room_id), EventId(event.card_event_id), None
            )
        posted = await self.services.transport.send(
            OutgoingMessage(
                room_id=room,
                plain=rendered.plain,
                html=rendered.html,
                notice=False,
                txn_id=f"ev.card.{event.id}.{event.sequence}.{event.status}",
            )
        )
        await self.store.set_card(event.id, room, posted)
        await self.services.transport.upload(
            Upload(
                room_id=room,
                data=self._ics(event, language),
                filename=calendar.filename(event),
                content_type=calendar.CONTENT_TYPE,
                thread_root=posted,
                txn_id=f"ev.card-ics.{event.id}.{event.sequence}.{event.status}",
            )
        )

    async def _announce(self, events: Sequence[EventRecord]) -> list[EventRecord]:
        announced = []
        for event in events:
            record = await self.store.set_status(event.id, ANNOUNCED)
            await self._post_card(record)
            await self._schedule(record)
            announced.append(record)
        return announced

    # -- creating --------------------------------------------------------------------

    def _themes(self) -> dict[str, dict[str, str]]:
        return {t.key: dict(t.name) for t in self.services.config.themes}

    def _new_events(self, draft: Draft) -> list[NewEvent]:
        assert draft.start is not None and draft.end is not None and draft.title is not None
        items = []
        size = len(draft.dates)
        for part, day in enumerate(draft.dates, start=1):
            title = draft.title
            if size > 1:
                title = f"{draft.title} ({part}/{size})"
            items.append(
                NewEvent(
                    title=title[:200],
                    starts_at=to_utc(day, draft.start, self.timezone),
                    ends_at=to_utc(day, draft.end, self.timezone),
                    form=draft.form or "fysiek",
                    place=draft.place,
                    link=draft.link,
                    theme=draft.theme,
                    programme=draft.programme,
                    accreditation=draft.accreditation,
                    points=points_of(draft.accreditation),
                    lunch=draft.lunch,
                    capacity=draft.capacity,
                    audience=draft.audience or (),
                )
            )
        return items

    async def _advice(self, events: Sequence[EventRecord]) -> list[Advice]:
        notes: list[Advice] = []
        own = [e.id for e in events]
        for event in events:
            others = [
                Busy(o.id, o.title, o.starts_at, o.ends_at)
                for o in await self.store.overlapping(event.starts_at, event.ends_at, exclude=own)
            ]
            for note in planning_advice(
                event.starts_at,
                event.ends_at,
                self.timezone,
                good_months=self.settings.good_months,
                max_hours=self.settings.max_hours,
                latest_start=self.settings.latest_start,
                others=others,
            ):
                if note not in notes:
                    notes.append(note)
        return notes

    async def _create(self, ctx: Context, draft: Draft, one_line: bool) -> None:
        draft = complete(draft)
        now = self.services.clock.now()
        if to_utc(draft.dates[0], draft.start or time(0), self.timezone) <= now:
            raise UserError("events.error.in_past")
        events = await self.store.create(self._new_events(draft), ctx.sender, status=DRAFT)
        advice = await self._advice(events)
        if one_line and not advice:
            announced = await self._announce(events)
            await ctx.reply("events.created", ids=_ids(announced), room=self._room_alias())
            return
        dm = ctx.room_id if ctx.is_direct else await self.services.transport.direct_room(ctx.sender)
        if not ctx.is_direct:
            await ctx.reply("events.advice.in_dm")
        preview = self.services.catalogue.render(
            ctx.language,
            "events.preview",
            cards=Markup.join([self.card(e, ctx.language, {}) for e in events], "\n\n"),
            advice=self._advice_text(ctx, advice),
        )
        await self.services.transport.send(
            OutgoingMessage(room_id=dm, plain=preview.plain, html=preview.html, txn_id=ctx.next_txn_id())
        )
        await self.services.conversations.start(ctx, CONFIRM_FLOW, dm, {EVENT_IDS: [e.id for e in events]})

    def _advice_text(self, ctx: Context, advice: list[Advice]) -> Markup:
        if not advice:
            return ctx.fragment("events.advice.none")
        lines = [ctx.fragment("events.advice.line", note=ctx.fragment(a.key, **a.params)) for a in advice]
        return ctx.fragment("events.advice.intro", notes=Markup.join(lines))

    def _room_alias(self) -> str:
        return self.services.config.all_rooms().get(self.settings.room, self.settings.room)

    async def _finish_create(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        if not completed:
            await ctx.reply("events.create_stopped")
            return
        start_text, end_text = str(answers["time"]).split("-")
        draft = Draft(
            title=answers["title"],
            dates=tuple(date.fromisoformat(d) for d in answers["dates"]),
            start=time.fromisoformat(start_text),
            end=time.fromisoformat(end_text),
            form=answers.get("form"),
            place=answers.get("place"),
            link=answers.get("link"),
            theme=answers.get("theme"),
            programme=answers.get("programme"),
            accreditation=answers.get("accreditation"),
            lunch=answers.get("lunch") == "yes",
            capacity=answers.get("capacity"),
            audience=tuple(answers.get("audience") or ()),
        )
        await self._create(ctx, draft, one_line=False)

    async def _finish_confirm(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        ids = [int(i) for i in answers.get(EVENT_IDS, [])]
        events = [e for e in [await self.store.get(i) for i in ids] if e is not None and e.status == DRAFT]
        if not completed or answers.get("announce") != "yes":
            await ctx.reply("events.not_announced", ids=_ids(events))
            return
        announced = await self._announce(events)
        await ctx.reply("events.created", ids=_ids(announced), room=self._room_alias())

    @command("event nieuw", aliases=["event new", "event aanmaken", "event create"], english="event new")
    @check(organiser_only)
    async def event_new(self, ctx: Context, options: Options) -> None:
        """Create an event: a DM conversation, or one line with options."""
        if self.services.rooms.room_id(self.settings.room) is None:
            raise UserError("events.error.no_room")
        if options:
            draft = parse_options(
                options.items(),
                today=self.services.clock.now().date(),
                professions=self.services.professions,
                themes=self._themes(),
            )
            await self._create(ctx, draft, one_line=True)
            return
        dm = ctx.room_id if ctx.is_direct else await self.services.transport.direct_room(ctx.sender)
        if not ctx.is_direct:
            await ctx.reply("events.continue_in_dm")
        await self.services.conversations.start(ctx, CREATE_FLOW, dm, {})

    # -- changing and cancelling -----------------------------------------------------

    async def _event(self, event_id: int, *, drafts: bool = False) -> EventRecord:
        event = await self.store.get(event_id)
        if event is None or (event.status == DRAFT and not drafts):
            raise UserError("events.error.not_found", id=event_id)
        return event

    @command("event wijzig", aliases=["event edit", "event change", "event aanpassen"], english="event edit")
    @check(organiser_only)
    async def event_edit(self, ctx: Context, event_id: int, options: Options) -> None:
        """Change an event; the card is updated and everyone signed up is told."""
        event = await self._event(event_id)
        if event.status == CANCELLED:
            raise UserError("events.error.cancelled", id=event.id, title=event.title)
        if not options:
            raise UserError("events.error.nothing_to_change", id=event.id)
        draft = parse_options(
            options.items(),
            today=self.services.clock.now().date(),
            professions=self.services.professions,
            themes=self._themes(),
        )
        values = self._changes(event, draft)
        if not values:
            raise UserError("events.error.nothing_to_change", id=event.id)
        record = await self.store.update(event.id, values)
        moved = record.starts_at != event.starts_at or record.ends_at != event.ends_at
        if moved:
            await self._schedule(record)
        promoted = await self.store.fill_places(record.id) if "capacity" in values else ()
        await self._post_card(await self._event(record.id))
        changed = ", ".join(ctx.text(f"events.option.{name}") for name in sorted(_option_names(values)))
        notified = await self._tell_signed_up(record, "events.changed", changed=changed)
        await self._tell_promoted(record, promoted)
        await ctx.reply("events.edited", id=record.id, changed=changed, count=notified)

    def _changes(self, event: EventRecord, draft: Draft) -> dict[str, Any]:
        zone = ZoneInfo(self.timezone)
        values: dict[str, Any] = {}
        if draft.dates and len(draft.dates) > 1:
            raise UserError("events.error.one_date")
        day = draft.dates[0] if draft.dates else event.starts_at.astimezone(zone).date()
        start = draft.start or event.starts_at.astimezone(zone).time()
        end = draft.end or event.ends_at.astimezone(zone).time()
        starts_at, ends_at = to_utc(day, start, self.timezone), to_utc(day, end, self.timezone)
        if starts_at != event.starts_at or ends_at != event.ends_at:
            if starts_at <= self.services.clock.now():
                raise UserError("events.error.in_past")
            if ends_at <= starts_at:
                raise UserError("events.error.time_order", value=f"{start:%H:%M}-{end:%H:%M}")
            values["starts_at"], values["ends_at"] = starts_at, ends_at
        for name in ("title", "place", "link", "form", "theme", "programme", "lunch", "capacity", "audience"):
            if name in draft.given and getattr(draft, name) != getattr(event, name):
                values[name] = getattr(draft, name)
        if "accreditation" in draft.given and draft.accreditation != event.accreditation:
            values["accreditation"] = draft.accreditation
            values["points"] = points_of(draft.accreditation)
        return values

    @command("event annuleer", aliases=["event cancel", "event afgelast"], english="event cancel")
    @check(organiser_only)
    async def event_cancel(self, ctx: Context, event_id: int) -> None:
        """Call an event off: the card says so, reminders stop, everyone signed up is told."""
        event = await self._event(event_id, drafts=True)
        if event.status == CANCELLED:
            raise UserError("events.error.cancelled", id=event.id, title=event.title)
        was_announced = event.status == ANNOUNCED
        record = await self.store.set_status(event.id, CANCELLED)
        await self._unschedule(record)
        notified = 0
        if was_announced:
            await self._post_card(record)
            notified = await self._tell_signed_up(record, "events.cancelled_notice", changed="")
        await ctx.reply("events.cancelled", id=record.id, title=record.title, count=notified)

    async def _tell_signed_up(self, event: EventRecord, key: str, **params: Any) -> int:
        """Everyone with an answer other than "not going" gets a DM (and those going
        the updated calendar file)."""
        told = 0
        for rsvp in await self.store.rsvps(event.id):
            if rsvp.status == NOT_GOING:
                continue
            user = UserId(rsvp.user_id)
            language = await self.services.members.language_of(user)
            rendered = self.services.catalogue.render(
                language,
                key,
                title=event.title,
                id=event.id,
                when=self._when(event, language),
                where=self._where(event, language),
                **params,
            )
            room = await self.services.transport.direct_room(user)
            txn = f"ev.notify.{event.id}.{event.sequence}.{event.status}.{rsvp.id}"
            await self.services.outbox.enqueue(
                OutgoingMessage(room_id=room, plain=rendered.plain, html=rendered.html, txn_id=txn)
            )
            if rsvp.status == GOING:
                await self._send_ics(event, user, language, room, f"{txn}.ics")
            told += 1
        return told

    async def _send_ics(
        self, event: EventRecord, user: UserId, language: str, room: RoomId, txn: str
    ) -> None:
        try:
            await self.services.transport.upload(
                Upload(
                    room_id=room,
                    data=self._ics(event, language),
                    filename=calendar.filename(event),
                    content_type=calendar.CONTENT_TYPE,
                    txn_id=txn,
                )
            )
        except Exception:
            log.exception("calendar file of event %d could not be sent", event.id)

    async def _tell_promoted(self, event: EventRecord, promoted: Sequence[RsvpRecord]) -> None:
        for rsvp in promoted:
            user = UserId(rsvp.user_id)
            language = await self.services.members.language_of(user)
            rendered = self.services.catalogue.render(
                language, "events.promoted", title=event.title, id=event.id, when=self._when(event, language)
            )
            room = await self.services.transport.direct_room(user)
            txn = f"ev.promoted.{event.id}.{rsvp.id}.{rsvp.position}"
            await self.services.outbox.enqueue(
                OutgoingMessage(room_id=room, plain=rendered.plain, html=rendered.html, txn_id=txn)
            )
            await self._send_ics(event, user, language, room, f"{txn}.ics")

    async def _refresh_places(self, event_id: int) -> None:
        """Edit the event's card so it shows the places left now.

        Sign-ups that arrive while an edit is under way are folded into one more edit
        after it, so a rush of fifty costs a few edits, not fifty. A failed edit is
        logged: the sign-up itself stands, and ``!event <id>`` is always current."""
        self._stale_cards.add(event_id)
        lock = self._card_locks.setdefault(event_id, asyncio.Lock())
        if lock.locked():
            return
        async with lock:
            while event_id in self._stale_cards:
                self._stale_cards.discard(event_id)
                try:
                    await self._edit_card(event_id)
                except Exception:
                    log.exception("card of event %d could not be updated", event_id)
        self._card_locks.pop(event_id, None)

    async def _edit_card(self, event_id: int) -> None:
        event = await self.store.get(event_id)
        if event is None or event.status != ANNOUNCED or not event.card_event_id or not event.card_room_id:
            return
        language = self.services.config.community.language
        counts = (await self.store.counts([event.id]))[event.id]
        rendered = self.services.catalogue.render(
            language, "events.card.message", card=self.card(event, language, counts)
        )
        await self.services.transport.send(
            OutgoingMessage(
                room_id=RoomId(event.card_room_id),
                plain=rendered.plain,
                html=rendered.html,
                notice=False,
                replaces=EventId(event.card_event_id),
                # A repeated edit is harmless; a reused id would hide a later count.
                txn_id=f"ev.card-edit.{event.id}.{uuid.uuid4().hex}",
            )
        )

    # -- signing up ------------------------------------------------------------------

    async def _answer(
        self, user: UserId, event_id: int, wanted: str, via: str, reply: Context | None, txn: str
    ) -> RsvpOutcome:
        outcome = await self.store.answer(event_id, user, wanted, via)
        event = await self._event(event_id)
        await self._confirm(user, event, outcome, reply, txn)
        await self._tell_promoted(event, outcome.promoted)
        if outcome.changed:
            await self._refresh_places(event_id)
        return outcome

    async def _confirm(
        self, user: UserId, event: EventRecord, outcome: RsvpOutcome, ctx: Context | None, txn: str
    ) -> None:
        """The member's confirmation in their DM (with the calendar file when going);
        a command in a room also gets a short answer there."""
        status = outcome.status or "withdrawn"
        key = f"events.rsvp.{status}" if outcome.changed else f"events.rsvp.already_{status}"
        language = ctx.language if ctx is not None else await self.services.members.language_of(user)
        params: dict[str, Any] = {
            "title": event.title,
            "id": event.id,
            "when": self._when(event, language),
            "rank": outcome.waiting_rank or 0,
            "where": self._where(event, language),
        }
        if ctx is not None and not ctx.is_direct:
            room_key = f"events.rsvp.room_{status}" if outcome.changed else key
            await ctx.reply(room_key, **params)
            if not outcome.changed:
                return
        room = (
            ctx.room_id
            if ctx is not None and ctx.is_direct
            else await self.services.transport.direct_room(user)
        )
        rendered = self.services.catalogue.render(language, key, **params)
        await self.services.transport.send(
            OutgoingMessage(room_id=room, plain=rendered.plain, html=rendered.html, txn_id=f"{txn}.dm")
        )
        if outcome.changed and outcome.status == GOING:
            await self._send_ics(event, user, language, room, f"{txn}.ics")

    @command("aanmelden", aliases=["inschrijven", "signup", "sign up"], english="rsvp")
    async def rsvp(self, ctx: Context, event_id: int) -> None:
        """Sign up for an event (or join its waitlist when it is full)."""
        await self._answer(ctx.sender, event_id, GOING, "command", ctx, ctx.next_txn_id())

    @command("aanmelden misschien", aliases=["misschien aanmelden"], english="rsvp maybe")
    async def maybe(self, ctx: Context, event_id: int) -> None:
        """Say you might come; you get no place and no reminders."""
        await self._answer(ctx.sender, event_id, MAYBE, "command", ctx, ctx.next_txn_id())

    @command("afmelden", aliases=["uitschrijven"], english="cancel")
    async def cancel(self, ctx: Context, event_id: int) -> None:
        """Cancel your sign-up; your place goes to the first on the waitlist."""
        current = await self.store.answer_of(event_id, ctx.sender)
        if current is None or current.status == NOT_GOING:
            await self._event(event_id)
            raise UserError("events.error.not_signed_up", id=event_id)
        await self._answer(ctx.sender, event_id, NOT_GOING, "command", ctx, ctx.next_txn_id())

    @listener(IncomingReaction)
    async def on_reaction(self, reaction: IncomingReaction) -> None:
        """✅ going, 🤔 maybe, ❌ not going on a card; taking the reaction back withdraws."""
        if reaction.sender == self.services.transport.own_user_id:
            return
        wanted = REACTIONS.get(_reaction_key(reaction.key))
        if wanted is None:
            return
        event_id = await self.store.by_card(reaction.target_event_id)
        if event_id is None:
            return
        user = reaction.sender
        txn = f"ev.react.{_short(reaction.event_id)}"
        try:
            if reaction.removed:
                only = (GOING, WAITING) if wanted == GOING else (wanted,)
                outcome = await self.store.withdraw(event_id, user, only=only)
                if outcome.changed:
                    event = await self._event(event_id)
                    await self._confirm(user, event, outcome, None, txn)
                    await self._tell_promoted(event, outcome.promoted)
                    await self._refresh_places(event_id)
                return
            await self._answer(user, event_id, wanted, "reaction", None, txn)
        except UserError as error:
            # No command to answer: tell the member in their DM what went wrong.
            language = await self.services.members.language_of(user)
            rendered = self.services.catalogue.render(language, error.key, **error.params)
            room = await self.services.transport.direct_room(user)
            await self.services.transport.send(
                OutgoingMessage(room_id=room, plain=rendered.plain, html=rendered.html, txn_id=f"{txn}.error")
            )

    # -- digest and stats ------------------------------------------------------------

    async def digest_sections(self, requests: Sequence[DigestRequest]) -> Mapping[str, DigestSection]:
        """Upcoming events the member has not answered yet, meant for their profession
        (or for everyone)."""
        if not requests:
            return {}
        events, answered = await self.store.unanswered(
            [r.user_id for r in requests], min(r.now for r in requests)
        )
        if not events:
            return {}
        catalogue = self.services.catalogue
        lines: dict[tuple[str, int], Markup] = {}  # one line per event and language, shared

        def line(language: str, event: EventRecord) -> Markup:
            if (language, event.id) not in lines:
                lines[(language, event.id)] = catalogue.fragment(
                    language,
                    "events.digest.line",
                    id=event.id,
                    title=event.title,
                    when=self._when(event, language),
                )
            return lines[(language, event.id)]

        sections: dict[str, DigestSection] = {}
        for request in requests:
            found = [
                e
                for e in events
                if e.starts_at > request.now
                and (e.id, request.user_id) not in answered
                and e.organiser != request.user_id
                and (not e.audience or (request.profession or "") in e.audience)
            ]
            if not found:
                continue
            language = request.language
            sections[request.user_id] = DigestSection(
                DIGEST_ORDER,
                catalogue.fragment(language, "events.digest.title"),
                tuple(DigestItem(line(language, e)) for e in found[:ITEMS_SHOWN]),
                more=max(len(found) - ITEMS_SHOWN, 0),
            )
        return sections

    async def stats_counts(self, since: datetime, until: datetime) -> list[StatCount]:
        """Sign-ups and attendance per profession in the period (members without a
        profile count for no profession)."""
        signups, attended = await self.store.participation(since, until)
        professions = await self.profiles.professions_and_themes(sorted(set(signups) | set(attended)))
        counts: list[StatCount] = []
        for metric, users in (("events_signups", signups), ("events_attended", attended)):
            per_profession = Counter(
                professions[u][0] for u in users if u in professions and professions[u][0]
            )
            counts.extend(StatCount(metric, p, n) for p, n in sorted(per_profession.items()))
        return counts

    # -- looking -------------------------------------------------------------------

    @command("bijeenkomsten", aliases=["events", "agenda", "evenementen"], english="events")
    async def list_events(self, ctx: Context) -> None:
        """Upcoming events, series together, with the places left."""
        events = await self.store.upcoming(self.services.clock.now())
        if not events:
            await ctx.reply("events.list.empty")
            return
        counts = await self.store.counts([e.id for e in events])
        blocks: list[Markup] = []
        done_series: set[int] = set()
        for event in events:
            if event.series_id is not None:
                if event.series_id in done_series:
                    continue
                done_series.add(event.series_id)
                parts = [e for e in events if e.series_id == event.series_id]
                lines = [self._list_line(ctx, e, counts[e.id]) for e in parts]
                title = event.title.rsplit(" (", 1)[0]
                blocks.append(
                    ctx.fragment(
                        "events.list.series",
                        title=title,
                        size=event.series_size or len(parts),
                        lines=Markup.join(lines),
                    )
                )
            else:
                blocks.append(self._list_line(ctx, event, counts[event.id]))
        await ctx.reply("events.list.report", lines=Markup.join(blocks))

    def _list_line(self, ctx: Context, event: EventRecord, counts: dict[str, int]) -> Markup:
        return ctx.fragment(
            "events.list.line",
            id=event.id,
            title=event.title,
            when=self._when(event, ctx.language),
            form=ctx.text(f"events.form.{event.form}"),
            places=self._places(event, ctx.language, counts),
        )

    @command("event", aliases=["bijeenkomst"], english="event")
    async def show(self, ctx: Context, event_id: int) -> None:
        """An event's details and who is coming, per profession."""
        event = await self._event(event_id)
        rsvps = await self.store.rsvps(event.id)
        counts = {s: sum(1 for r in rsvps if r.status == s) for s in (GOING, WAITING, MAYBE, NOT_GOING)}
        mine = next((r for r in rsvps if r.user_id == ctx.sender), None)
        own = (
            ctx.fragment(f"events.show.yours.{mine.status}")
            if mine
            else ctx.fragment("events.show.yours.none", id=event.id)
        )
        await ctx.reply(
            "events.show.report",
            card=self.card(event, ctx.language, counts),
            coming=await self._coming(ctx, event, [r for r in rsvps if r.status == GOING]),
            maybe=counts[MAYBE],
            waiting=counts[WAITING],
            own=own,
        )

    async def _coming(self, ctx: Context, event: EventRecord, going: Sequence[RsvpRecord]) -> Markup:
        """Counts per profession, names of those who chose to be listed, and the
        professions still missing."""
        if not going:
            return ctx.fragment("events.show.nobody_yet")
        by_profession: dict[str, list[str]] = {}
        for rsvp in going:
            profile = await self.profiles.get(rsvp.user_id)
            key = profile.profession if profile is not None else ""
            names = by_profession.setdefault(key, [])
            if profile is not None and profile.listed:
                names.append(rsvp.user_id)
            else:
                names.append("")
        lines = []
        for profession in self.services.professions.items:
            members = by_profession.get(profession.key)
            if members:
                lines.append(
                    self._coming_line(ctx, f"{profession.badge} {profession.label(ctx.language)}", members)
                )
        if by_profession.get(""):
            lines.append(self._coming_line(ctx, ctx.text("events.show.no_profile"), by_profession[""]))
        wanted = event.audience or tuple(p.key for p in self.services.professions.items if p.key != "anders")
        missing = [self._profession_label(k, ctx.language) for k in wanted if k not in by_profession]
        missing_text = (
            ctx.fragment("events.show.missing", professions=", ".join(missing))
            if missing
            else ctx.fragment("events.show.all_present")
        )
        return ctx.fragment(
            "events.show.coming", total=len(going), lines=Markup.join(lines), missing=missing_text
        )

    def _profession_label(self, key: str, language: str) -> str:
        found = self.services.professions.get(key)
        return found.label(language) if found is not None else key

    def _coming_line(self, ctx: Context, label: str, members: list[str]) -> Markup:
        names = [m for m in members if m]
        return ctx.fragment(
            "events.show.coming_line",
            label=label,
            count=len(members),
            names=ctx.fragment("events.show.names", names=", ".join(names)) if names else Markup("", ""),
        )

    # -- reminders -------------------------------------------------------------------

    @command("herinneringen", aliases=["reminders", "herinnering"], english="reminders")
    async def reminders(self, ctx: Context, setting: str | None = None) -> None:
        """Turn event reminders on or off (aan/uit), or see how they are set."""
        if setting is None:
            on = await self.store.reminders_on(ctx.sender)
            await ctx.reply(
                "events.reminders.status_on" if on else "events.reminders.status_off",
                offsets=self._offsets_text(ctx),
            )
            return
        from bot.converters import parse_bool

        on_value = parse_bool(setting)
        if on_value is None:
            raise UserError("events.error.on_off", value=setting[:20])
        await self.store.set_reminders(ctx.sender, on_value)
        await ctx.reply(
            "events.reminders.on" if on_value else "events.reminders.off", offsets=self._offsets_text(ctx)
        )

    def _offsets_text(self, ctx: Context) -> str:
        parts = []
        for offset in self.settings.reminders:
            number, unit = int(offset.label[:-1]), offset.label[-1]
            parts.append(ctx.text(f"events.offset.{unit}", count=number))
        return ", ".join(parts)

    # -- after the event -------------------------------------------------------------

    @command(
        "event aanwezig",
        aliases=["event attended", "event attendance", "event presentie"],
        english="event attended",
    )
    @check(organiser_only)
    async def attended(self, ctx: Context, event_id: int, *, members: str) -> None:
        """Record who was there (for the accreditation list and the evaluation)."""
        event = await self._event(event_id)
        users: list[str] = []
        bad: list[str] = []
        for word in members.replace(",", " ").split():
            user = parse_user_id(word, self.services.config.matrix.server_name)
            (users if user else bad).append(user or word)
        if bad:
            raise UserError("events.error.bad_members", names=", ".join(bad[:5]))
        if not users:
            raise UserError("events.error.no_members")
        added = await self.store.record_attendance(event.id, users)
        total = len(await self.store.attendees(event.id))
        await ctx.reply("events.attendance_saved", id=event.id, added=added, total=total)

    @command(
        "mijn-accreditatie",
        aliases=["mijn accreditatie", "my-accreditation", "accreditatie"],
        english="my-accreditation",
    )
    async def my_accreditation(self, ctx: Context) -> None:
        """The events you attended and the accreditation points they carried."""
        events = await self.store.attended(ctx.sender)
        if not events:
            await ctx.reply("events.accreditation.none")
            return
        lines = [
            ctx.fragment(
                "events.accreditation.line",
                day=format_date(
                    e.starts_at.astimezone(ZoneInfo(self.timezone)).date(), ctx.language, "d MMM y"
                ),
                title=e.title,
                accreditation=e.accreditation or ctx.text("events.accreditation.no_points"),
            )
            for e in events
        ]
        total = sum(e.points or 0 for e in events)
        await ctx.reply(
            "events.accreditation.report", lines=Markup.join(lines), total=f"{total:g}", count=len(events)
        )

    @command("evaluatie", aliases=["evaluate", "evalueer"], english="evaluate")
    @check(dm_only)
    async def evaluate(self, ctx: Context, event_id: int) -> None:
        """Fill in (or redo) the evaluation of an event you attended."""
        event = await self._event(event_id)
        attendees = await self.store.attendees(event.id) or [
            r.user_id for r in await self.store.rsvps(event.id) if r.status == GOING
        ]
        if ctx.sender not in attendees:
            raise UserError("events.error.not_attended", id=event.id)
        profile = await self.profiles.get(ctx.sender)
        answers: dict[str, Any] = {EVENT_ID: event.id}
        if profile is not None:
            answers.update(profession=profile.profession, **{KNOWN_PROFESSION: True})
        await ctx.reply("events.evaluation.start", title=event.title)
        await self.services.conversations.start(ctx, EVALUATION_FLOW, ctx.room_id, answers)

    async def _finish_evaluation(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        if not answers.get("worked") and not completed:
            await ctx.reply("events.evaluation.stopped")
            return
        await self.store.save_evaluation(
            int(answers[EVENT_ID]),
            ctx.sender,
            answers.get("profession"),
            answers.get("worked"),
            answers.get("not_worked"),
            answers.get("tips"),
        )
        await ctx.reply("events.evaluation.thanks")

    @command("event evaluatie", aliases=["event evaluation", "event evaluaties"], english="event evaluation")
    @check(organiser_only)
    async def evaluation_results(self, ctx: Context, event_id: int) -> None:
        """The evaluations of an event, grouped by profession."""
        event = await self._event(event_id)
        results = await self.store.evaluations(event.id)
        if not results:
            await ctx.reply("events.evaluation.none", id=event.id, title=event.title)
            return
        groups: dict[str, list[Any]] = {}
        for result in results:
            groups.setdefault(result.profession or "", []).append(result)
        blocks = []
        order = [p.key for p in self.services.professions.items] + [""]
        for key in sorted(groups, key=lambda k: order.index(k) if k in order else len(order)):
            found = self.services.professions.get(key)
            label = found.label(ctx.language) if found else ctx.text("events.show.no_profile")
            items = groups[key]
            parts = []
            for field_name in ("worked", "not_worked", "tips"):
                answers = [getattr(r, field_name) for r in items if getattr(r, field_name)]
                if answers:
                    parts.append(
                        ctx.fragment(
                            f"events.evaluation.{field_name}",
                            answers=Markup.join(
                                [ctx.fragment("events.evaluation.answer", text=a) for a in answers]
                            ),
                        )
                    )
            blocks.append(
                ctx.fragment(
                    "events.evaluation.group", profession=label, count=len(items), parts=Markup.join(parts)
                )
            )
        await ctx.reply(
            "events.evaluation.report",
            id=event.id,
            title=event.title,
            count=len(results),
            groups=Markup.join(blocks, "\n\n"),
        )

    # -- privacy ---------------------------------------------------------------------

    async def erase_member(self, user_id: UserId) -> int:
        removed, held_places = await self.store.erase_member(user_id)
        for event_id in held_places:
            try:
                promoted = await self.store.fill_places(event_id)
            except UserError:
                continue
            event = await self.store.get(event_id)
            if event is not None:
                await self._tell_promoted(event, promoted)
            await self._refresh_places(event_id)
        return removed


def _ids(events: Sequence[EventRecord]) -> str:
    return ", ".join(str(e.id) for e in events)


def _option_names(values: dict[str, Any]) -> set[str]:
    names = set(values) - {"points", "ends_at"}
    if "starts_at" in names:
        names.discard("starts_at")
        names.add("time")
    return names


__all__ = ["Events"]
