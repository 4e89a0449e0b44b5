"""Buddies: two-sided mentoring between members, matched one request at a time.

A member asks (``!buddy zoek``); the best available candidate gets a DM with a number
to accept or decline. No answer within the offer time, or a refusal, moves the request
to the next candidate; the requester hears that it moved on, never who said no. On
acceptance the bot makes a private room for the two, posts a first agenda, and checks
in through the nudge service after the configured weeks.

Check-ins: members answer ``!buddy checkin ja|nog niet|stop [nr]`` (English: yes, not
yet, stop). ``stop`` ends the pair as ``!buddy stop`` does.

Everything that must survive a restart is a row: offers carry their own timeout job
(``buddy:offer-timeout:<offer>``), pairs their check-in jobs
(``buddy:checkin:<pair>:<round>``), and every message that is not a direct answer goes
through the outbox with a transaction id made from the row's id. At start the feature
re-arms what a crash may have left half done (see :meth:`Buddy._resume`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.checks import dm_only
from bot.context import Context
from bot.converters import Options, parse_date
from bot.errors import UserError
from bot.formatting import Markup
from bot.i18n import format_date
from bot.ids import RoomId, UserId
from bot.registry import Feature, check, command
from bot.scheduler import MissedPolicy
from bot.services import Services
from bot.transport import OutgoingMessage, RoomSpec
from commands.buddy.flow import ANY, FLOW_NAME, OTHER_PROFESSION, TOPIC_LIMIT, BuddyFindFlow
from commands.buddy.matching import BuddyQuery, Candidate, CandidatePool
from commands.buddy.models import BuddyOffer, BuddyPair, BuddyRequest
from commands.buddy.settings import BuddySettings
from commands.buddy.store import (
    ACTIVE,
    CANCELLED,
    EXHAUSTED,
    EXPIRED,
    REFUSED,
    SEARCHING,
    WITHDRAWN,
    BuddyStore,
)
from commands.introductions.fields import FieldParser
from commands.introductions.records import ProfileRecord
from commands.introductions.store import ProfileStore
from commands.introductions.vocabulary import DAYS, EXPERIENCE, REGIONS, parse_yes_no

log = logging.getLogger(__name__)

OFFER_TIMEOUT_KIND = "buddy:offer-timeout"
CHECKIN_KIND = "buddy:checkin"

# A pair made this recently may have been interrupted half-way through its set-up
# (room made, agenda or message not yet queued); older pairs are complete.
RESUME_WINDOW = timedelta(days=1)

OFFERED = "offered"
NOBODY = "nobody"
NOTHING = "nothing"

FIND_OPTIONS = {
    "beroep": "professions",
    "beroepen": "professions",
    "profession": "professions",
    "ervaring": "experience",
    "experience": "experience",
    "regio": "regions",
    "region": "regions",
    "provincie": "regions",
    "dag": "days",
    "dagen": "days",
    "day": "days",
    "days": "days",
    "thema": "themes",
    "themas": "themes",
    "theme": "themes",
    "themes": "themes",
    "onderwerp": "topic",
    "topic": "topic",
    "over": "topic",
    "ander-beroep": "cross",
    "anderberoep": "cross",
    "other-profession": "cross",
    "cross": "cross",
    "opnieuw": "again",
    "again": "again",
}
CHECKIN_ANSWERS = {
    "ja": "yes",
    "j": "yes",
    "yes": "yes",
    "y": "yes",
    "zeker": "yes",
    "nog niet": "not_yet",
    "nog-niet": "not_yet",
    "nee": "not_yet",
    "niet": "not_yet",
    "no": "not_yet",
    "not yet": "not_yet",
    "not-yet": "not_yet",
    "stop": "stop",
    "stoppen": "stop",
    "klaar": "stop",
}


def offer_job_id(offer_id: int) -> str:
    return f"{OFFER_TIMEOUT_KIND}:{offer_id}"


def checkin_job_id(pair_id: int, round_number: int) -> str:
    return f"{CHECKIN_KIND}:{pair_id}:{round_number}"


class Buddy(Feature):
    name = "buddy"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.settings = BuddySettings.from_config(services.config)
        self.store = BuddyStore(services.db, services.clock)
        self.profiles = ProfileStore(services.db, services.clock)
        self.parser = FieldParser(services.catalogue, services.professions, tuple(services.config.themes))
        self._themes = {t.key: dict(t.name) for t in services.config.themes}
        services.conversations.register(BuddyFindFlow(services, self._finish_flow))
        services.privacy.register("buddy", self.store.export_member, self.erase_member)
        services.scheduler.register(OFFER_TIMEOUT_KIND, self._offer_timeout, MissedPolicy.always())
        services.scheduler.register(CHECKIN_KIND, self._checkin_due, MissedPolicy.always())
        # Matching one request at a time keeps two requests from both picking the last
        # free place of one candidate; the database claims decide everything else.
        self._matching = asyncio.Lock()

    async def start(self) -> None:
        await self._resume()

    async def _resume(self) -> None:
        """Finish what a stop may have interrupted; every step is idempotent."""
        recent = self.services.clock.now() - RESUME_WINDOW
        for pair in await self.store.active_pairs():
            if pair.room_id:
                self.services.rooms.add_private(RoomId(pair.room_id))
                if pair.started_at < recent:
                    continue  # set up long ago; nothing can be half done
            try:
                await self._complete_pair(pair.id)
            except Exception:
                log.exception("buddy pair %d could not be completed at start; retried next start", pair.id)
        for offer in await self.store.pending_offers():
            await self._arm_offer(offer)
        for request_id in await self.store.searching_requests():
            await self._advance(request_id, notify=True)

    # -- helpers -------------------------------------------------------------------------

    def _today(self) -> Any:
        return self.services.clock.now().astimezone(ZoneInfo(self.services.config.community.timezone)).date()

    def _mention(self, language: str, user_id: str) -> Markup:
        return self.services.catalogue.fragment(language, "buddy.mention", user=user_id)

    def _room_link(self, room_id: str) -> str:
        return f"https://matrix.to/#/{room_id}"

    async def _dm(self, user_id: str, key: str, txn_id: str, **params: Any) -> None:
        """A message to a member's DM through the outbox, in their language."""
        language = await self.services.members.language_of(UserId(user_id))
        built = {name: (value(language) if callable(value) else value) for name, value in params.items()}
        rendered = self.services.catalogue.render(language, key, **built)
        room = await self.services.transport.direct_room(UserId(user_id))
        await self.services.outbox.enqueue(
            OutgoingMessage(room_id=room, plain=rendered.plain, html=rendered.html, txn_id=txn_id)
        )

    def _profession(self, language: str, key: str | None) -> str:
        found = self.services.professions.get(key) if key else None
        return found.label(language) if found else (key or "")

    def _summary(self, language: str, profile: ProfileRecord | None, user_id: str) -> Markup:
        """Who asks: profession, experience, region and themes, from their profile."""
        catalogue = self.services.catalogue
        if profile is None:
            return self._mention(language, user_id)
        details = [
            EXPERIENCE.label(catalogue, language, profile.experience) if profile.experience else "",
            REGIONS.label(catalogue, language, profile.region) if profile.region else "",
        ]
        themes = ", ".join(self._themes.get(t, {}).get(language) or t for t in profile.themes)
        return catalogue.fragment(
            language,
            "buddy.summary",
            member=self._mention(language, user_id),
            profession=self._profession(language, profile.profession),
            details="".join(f" · {d}" for d in details if d),
            themes=catalogue.fragment(language, "buddy.summary_themes", themes=themes)
            if themes
            else Markup("", ""),
        )

    # -- availability ----------------------------------------------------------------------

    @command("buddy", english="buddy")
    async def buddy(self, ctx: Context) -> None:
        """What buddies are and how to start."""
        await ctx.reply("buddy.intro")

    @command("buddy beschikbaar", aliases=["buddy beschikbaarheid"], english="buddy available")
    async def available(self, ctx: Context, answer: bool, options: Options) -> None:
        """Say whether you are open to becoming someone's buddy, and for how many pairs."""
        if await self.profiles.get(ctx.sender) is None:
            raise UserError("buddy.error.no_profile")
        max_pairs: int | None = None
        for name, value in options.items():
            if name not in ("max", "maximum", "aantal"):
                raise UserError("buddy.error.unknown_option", name=name[:40], known="max")
            if not value.isdigit() or not 1 <= int(value) <= self.settings.max_pairs_limit:
                raise UserError("buddy.error.max", value=value[:10], limit=self.settings.max_pairs_limit)
            max_pairs = int(value)
        state = await self.store.set_availability(
            ctx.sender, available=answer, max_pairs=max_pairs, default_max=self.settings.default_max_pairs
        )
        if answer:
            await ctx.reply("buddy.available.on", max=state.max_pairs)
        else:
            await ctx.reply("buddy.available.off")

    @command("buddy pauze", aliases=["buddy pauzeer"], english="buddy pause")
    async def pause(self, ctx: Context, *, until: str) -> None:
        """Pause being a buddy candidate until a date (``uit`` ends the pause)."""
        text = until.strip()
        lowered = text.lower()
        if lowered in ("uit", "off", "stop", "geen", "none"):
            await self.store.set_availability(
                ctx.sender, paused_until=None, default_max=self.settings.default_max_pairs
            )
            await ctx.reply("buddy.pause.cleared")
            return
        for word in ("tot en met ", "tot ", "until ", "till "):
            if lowered.startswith(word):
                text = text[len(word) :]
                break
        day = parse_date(text, self._today())
        if day is None:
            raise UserError("buddy.error.pause_date", value=text[:40])
        if day <= self._today():
            raise UserError("buddy.error.pause_past", value=text[:40])
        await self.store.set_availability(
            ctx.sender, paused_until=day, default_max=self.settings.default_max_pairs
        )
        await ctx.reply("buddy.pause.set", date=format_date(day, ctx.language))

    @command("buddy blokkeer", english="buddy block")
    @check(dm_only)
    async def block(self, ctx: Context, member: UserId) -> None:
        """Keep someone out of your buddy matches; they are never told."""
        if member == ctx.sender:
            raise UserError("buddy.error.block_self")
        added = await self.store.block(ctx.sender, member)
        await ctx.reply("buddy.block.done" if added else "buddy.block.already", member=member)

    @command("buddy deblokkeer", english="buddy unblock")
    @check(dm_only)
    async def unblock(self, ctx: Context, member: UserId) -> None:
        """Take someone off your block list."""
        removed = await self.store.unblock(ctx.sender, member)
        await ctx.reply("buddy.unblock.done" if removed else "buddy.unblock.none", member=member)

    # -- asking --------------------------------------------------------------------------

    @command("buddy zoek", aliases=["buddy zoeken", "buddy aanvraag"], english="buddy find")
    async def find(self, ctx: Context, options: Options) -> None:
        """Ask for a buddy; without options I ask what you are looking for."""
        profile = await self.profiles.get(ctx.sender)
        if profile is None:
            raise UserError("buddy.error.no_profile")
        existing = await self.store.open_request(ctx.sender)
        if existing is not None and existing.source_event != ctx.message.event_id:
            raise UserError("buddy.error.already_searching", number=existing.id)
        if not options:
            dm = ctx.room_id if ctx.is_direct else await self.services.transport.direct_room(ctx.sender)
            if not ctx.is_direct:
                await ctx.reply("buddy.find.continue_in_dm")
            await self.services.conversations.start(ctx, FLOW_NAME, dm)
            return
        criteria, topic = self._criteria(options)
        await self._create(ctx, criteria, topic)

    def _criteria(self, options: Options) -> tuple[dict[str, Any], str | None]:
        criteria: dict[str, Any] = {}
        topic: str | None = None
        for name, value in options.items():
            target = FIND_OPTIONS.get(name)
            if target is None:
                raise UserError(
                    "buddy.error.unknown_option",
                    name=name[:40],
                    known="beroep, ervaring, regio, dag, thema, onderwerp, ander-beroep, opnieuw",
                )
            if target == "professions":
                criteria[target] = self.parser.professions_list(value)
            elif target == "experience":
                criteria[target] = self.parser.many(EXPERIENCE, value)
            elif target == "regions":
                criteria[target] = self.parser.many(REGIONS, value)
            elif target == "days":
                criteria[target] = self.parser.many(DAYS, value)
            elif target == "themes":
                criteria[target] = self.parser.themes_list(value)
            elif target == "topic":
                topic = value.strip() or None
                if topic and len(topic) > TOPIC_LIMIT:
                    raise UserError("buddy.error.topic_too_long", limit=TOPIC_LIMIT, length=len(topic))
            else:
                flag = parse_yes_no(value)
                if flag is None:
                    raise UserError("buddy.error.yes_no", name=name[:40], value=value[:20])
                criteria[target] = flag
        return criteria, topic

    async def _finish_flow(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        if not completed:
            await ctx.reply("buddy.find.stopped")
            return
        criteria: dict[str, Any] = {}
        if answers.get("kind") and answers["kind"] != ANY:
            criteria["experience"] = [answers["kind"]]
        profession = answers.get("profession")
        if profession == OTHER_PROFESSION:
            criteria["cross"] = True
        elif profession and profession != ANY:
            criteria["professions"] = [profession]
        if await self.profiles.get(ctx.sender) is None:
            raise UserError("buddy.error.no_profile")
        existing = await self.store.open_request(ctx.sender)
        if existing is not None and existing.source_event != ctx.message.event_id:
            raise UserError("buddy.error.already_searching", number=existing.id)
        await self._create(ctx, criteria, answers.get("topic"))

    async def _create(self, ctx: Context, criteria: dict[str, Any], topic: str | None) -> None:
        request_id, _ = await self.store.create_request(ctx.sender, criteria, topic, ctx.message.event_id)
        outcome = await self._advance(request_id, notify=False)
        if outcome == NOBODY:
            request = await self.store.request(request_id)
            hint = await self._hint(ctx.language, request) if request else Markup("", "")
            await ctx.reply("buddy.find.nobody", hint=hint)
        else:
            await ctx.reply("buddy.find.searching", number=request_id, days=self._offer_days())

    def _offer_days(self) -> str:
        return f"{self.settings.offer_timeout.total_seconds() / 86400:.3g}"

    @command("buddy annuleer", aliases=["buddy intrekken"], english="buddy cancel")
    async def cancel(self, ctx: Context) -> None:
        """Stop looking for a buddy (an open request is withdrawn)."""
        request = await self.store.open_request(ctx.sender)
        if request is None:
            raise UserError("buddy.error.not_searching")
        pending = await self.store.pending_offer(request.id)
        if pending is not None and await self.store.close_offer(pending.id, WITHDRAWN) is not None:
            await self.services.scheduler.cancel(offer_job_id(pending.id))
        await self.store.finish_request(request.id, CANCELLED)
        await ctx.reply("buddy.cancel.done", number=request.id)

    # -- matching ------------------------------------------------------------------------

    async def _pool(self) -> CandidatePool:
        load: dict[str, int] = {}
        for pair in await self.store.active_pairs():
            for member in (pair.member_a, pair.member_b):
                if member:
                    load[member] = load.get(member, 0) + 1
        for offer in await self.store.pending_offers():
            if offer.candidate_id:
                load[offer.candidate_id] = load.get(offer.candidate_id, 0) + 1
        candidates = []
        # One query for the listed profiles; an available member who is not listed
        # (rare) is read on their own.
        listed = {record.user_id: record for record in await self.profiles.listed()}
        for state in await self.store.available_members():
            profile = listed.get(state.user_id) or await self.profiles.get(state.user_id)
            if profile is None:
                continue
            candidates.append(
                Candidate(
                    user_id=profile.user_id,
                    profession=profile.profession,
                    experience=profile.experience,
                    region=profile.region,
                    themes=frozenset(profile.themes),
                    days=frozenset(profile.meet_days or profile.work_days),
                    active_pairs=load.get(profile.user_id, 0),
                    max_pairs=state.max_pairs,
                    paused_until=state.paused_until,
                )
            )
        return CandidatePool(candidates)

    async def _query(self, request: BuddyRequest, profile: ProfileRecord | None) -> BuddyQuery:
        requester = request.requester_id or ""
        excluded = set(await self.store.offered_candidates(request.id))
        excluded |= await self.store.blocked_either_way(requester)
        for pair in await self.store.pairs_of(requester):
            other = pair.member_b if pair.member_a == requester else pair.member_a
            if other and (pair.status == ACTIVE or not request.criteria.get("again")):
                excluded.add(other)
        c = request.criteria
        return BuddyQuery(
            requester=requester,
            requester_profession=profile.profession if profile else None,
            requester_experience=profile.experience if profile else None,
            requester_region=profile.region if profile else None,
            requester_themes=frozenset(profile.themes) if profile else frozenset(),
            requester_days=frozenset(profile.meet_days or profile.work_days) if profile else frozenset(),
            professions=frozenset(c.get("professions") or ()),
            experience=frozenset(c.get("experience") or ()),
            regions=frozenset(c.get("regions") or ()),
            days=frozenset(c.get("days") or ()),
            themes=frozenset(c.get("themes") or ()),
            cross_profession=bool(c.get("cross")),
            excluded=frozenset(excluded),
            today=self._today(),
        )

    async def _advance(self, request_id: int, *, notify: bool) -> str:
        """Offer the request to the best candidate not asked yet; or say nobody is left."""
        async with self._matching:
            request = await self.store.request(request_id)
            if request is None or request.status != SEARCHING or not request.requester_id:
                return NOTHING
            if await self.store.pending_offer(request_id) is not None:
                return NOTHING
            best = []
            if await self.store.offer_count(request_id) < self.settings.max_offers:
                profile = await self.profiles.get(request.requester_id)
                best = (await self._pool()).rank(await self._query(request, profile), limit=1)
            if not best:
                if await self.store.finish_request(request_id, EXHAUSTED) and notify:
                    language = await self.services.members.language_of(UserId(request.requester_id))
                    await self._dm(
                        request.requester_id,
                        "buddy.request.exhausted",
                        f"buddy.exhausted.{request_id}",
                        number=request_id,
                        hint=await self._hint(language, request),
                    )
                return NOBODY
            offer_id = await self.store.create_offer(request_id, best[0].user_id, best[0].score)
            if offer_id is None:
                return NOTHING
            offer = await self.store.offer(offer_id)
        if offer is not None:
            await self._arm_offer(offer)
        return OFFERED

    async def _hint(self, language: str, request: BuddyRequest) -> Markup:
        """What to loosen: the hard filter whose removal finds someone, else ask a question."""
        catalogue = self.services.catalogue
        profile = await self.profiles.get(request.requester_id or "")
        base = await self._query(request, profile)
        pool = await self._pool()
        for name in ("professions", "experience"):
            if getattr(base, name):
                empty: dict[str, Any] = {name: frozenset()}
                looser = dataclasses.replace(base, **empty)
                # Everyone already asked stays excluded: they had their chance.
                if pool.rank(looser, limit=1):
                    return catalogue.fragment(
                        language, "buddy.hint.drop", filter=catalogue.plain(language, f"buddy.filter.{name}")
                    )
        return catalogue.fragment(language, "buddy.hint.ask")

    async def _arm_offer(self, offer: BuddyOffer) -> None:
        """The offer's timeout job and its DM to the candidate; safe to repeat."""
        request = await self.store.request(offer.request_id)
        if request is None or not request.requester_id or not offer.candidate_id:
            return
        await self.services.scheduler.schedule_once(
            offer_job_id(offer.id),
            OFFER_TIMEOUT_KIND,
            offer.offered_at + self.settings.offer_timeout,
            {"offer_id": offer.id},
            replace=False,
        )
        profile = await self.profiles.get(request.requester_id)
        requester = request.requester_id
        topic = request.topic
        await self._dm(
            offer.candidate_id,
            "buddy.offer.ask",
            f"buddy.offer.{offer.id}",
            number=offer.id,
            summary=lambda language: self._summary(language, profile, requester),
            topic=lambda language: (
                self.services.catalogue.fragment(language, "buddy.offer.topic", topic=topic)
                if topic
                else Markup("", "")
            ),
            days=self._offer_days(),
        )

    async def _offer_timeout(self, job_id: str, payload: dict[str, Any]) -> None:
        offer_id = int(payload["offer_id"])
        request_id = await self.store.close_offer(offer_id, EXPIRED)
        if request_id is not None:
            await self._move_on(request_id, offer_id)

    async def _move_on(self, request_id: int, offer_id: int) -> None:
        """After a refusal or a timeout: the next candidate, and a word to the requester."""
        if await self._advance(request_id, notify=True) == OFFERED:
            request = await self.store.request(request_id)
            if request is not None and request.requester_id:
                await self._dm(
                    request.requester_id,
                    "buddy.request.moved",
                    f"buddy.moved.{offer_id}",
                    number=request_id,
                    days=self._offer_days(),
                )

    # -- answering an offer -------------------------------------------------------------

    async def _own_offer(self, ctx: Context, number: int) -> BuddyOffer:
        offer = await self.store.offer(number)
        if offer is None or offer.candidate_id != ctx.sender:
            raise UserError("buddy.error.offer_not_found", number=number)
        return offer

    @command("buddy accepteer", aliases=["buddy ja", "buddy akkoord"], english="buddy accept")
    async def accept(self, ctx: Context, number: int) -> None:
        """Say yes to a buddy request you were asked for."""
        await self._own_offer(ctx, number)
        pair_id = await self.store.accept_offer(number, ctx.sender)
        if pair_id is None:
            raise UserError("buddy.error.offer_closed", number=number)
        await self.services.scheduler.cancel(offer_job_id(number))
        pair = await self._complete_pair(pair_id)
        room = pair.room_id if pair and pair.room_id else ""
        await ctx.reply(
            "buddy.accept.done",
            partner=self._mention(ctx.language, pair.member_a if pair and pair.member_a else ""),
            room=self._room_link(room),
        )

    @command("buddy weiger", aliases=["buddy nee", "buddy afwijzen"], english="buddy decline")
    async def decline(self, ctx: Context, number: int) -> None:
        """Say no to a buddy request; the requester is not told who declined."""
        await self._own_offer(ctx, number)
        request_id = await self.store.close_offer(number, REFUSED, candidate=ctx.sender)
        if request_id is None:
            raise UserError("buddy.error.offer_closed", number=number)
        await self.services.scheduler.cancel(offer_job_id(number))
        await ctx.reply("buddy.decline.done")
        await self._move_on(request_id, number)

    # -- pairs ---------------------------------------------------------------------------

    async def _complete_pair(self, pair_id: int) -> BuddyPair | None:
        """The room, the agenda, the check-ins and the requester's message; safe to repeat."""
        pair = await self.store.pair(pair_id)
        if pair is None or pair.status != ACTIVE or not pair.member_a or not pair.member_b:
            return pair
        language = self.services.config.community.language
        catalogue = self.services.catalogue
        if pair.room_id is None:
            room = await self.services.transport.create_room(
                RoomSpec(
                    alias_localpart=pair.room_alias,
                    name=catalogue.plain(language, "buddy.room.name", number=pair.id),
                    topic=catalogue.plain(language, "buddy.room.topic"),
                    invite=[UserId(pair.member_a), UserId(pair.member_b)],
                    is_direct=False,
                    private=True,  # encrypted when matrix.encrypt_private_rooms (the default)
                )
            )
            await self.store.set_room(pair.id, room)
            pair.room_id = room
        self.services.rooms.add_private(RoomId(pair.room_id))
        request = await self.store.request(pair.request_id) if pair.request_id else None
        topic = request.topic if request else None
        rendered = catalogue.render(
            language,
            "buddy.room.agenda",
            a=self._mention(language, pair.member_a),
            b=self._mention(language, pair.member_b),
            topic=catalogue.fragment(language, "buddy.room.topic_line", topic=topic)
            if topic
            else Markup("", ""),
            number=pair.id,
        )
        await self.services.outbox.enqueue(
            OutgoingMessage(
                room_id=RoomId(pair.room_id),
                plain=rendered.plain,
                html=rendered.html,
                notice=False,
                txn_id=f"buddy.agenda.{pair.id}",
            )
        )
        for round_number, weeks in enumerate(self.settings.checkin_weeks, start=1):
            await self.services.scheduler.schedule_once(
                checkin_job_id(pair.id, round_number),
                CHECKIN_KIND,
                pair.started_at + timedelta(weeks=weeks),
                {"pair_id": pair.id, "round": round_number, "weeks": weeks},
                replace=False,
            )
        partner = pair.member_b
        await self._dm(
            pair.member_a,
            "buddy.matched",
            f"buddy.matched.{pair.id}",
            partner=lambda lang: self._mention(lang, partner),
            room=self._room_link(pair.room_id),
            number=pair.id,
        )
        return pair

    async def _checkin_due(self, job_id: str, payload: dict[str, Any]) -> None:
        pair = await self.store.pair(int(payload["pair_id"]))
        if pair is None or pair.status != ACTIVE:
            return
        round_number, weeks = int(payload["round"]), int(payload["weeks"])
        for member in (pair.member_a, pair.member_b):
            if member:
                await self.services.nudges.nudge(
                    member,
                    "buddy.checkin",
                    "buddy.checkin.ask",
                    {"number": pair.id, "weeks": weeks},
                    dedupe_key=f"buddy:checkin:{pair.id}:{round_number}:{member}",
                )

    async def _own_pair(self, ctx: Context, number: int | None) -> BuddyPair:
        pairs = await self.store.pairs_of(ctx.sender, active_only=True)
        if number is not None:
            for pair in pairs:
                if pair.id == number:
                    return pair
            raise UserError("buddy.error.pair_not_found", number=number)
        if not pairs:
            raise UserError("buddy.error.no_active_pair")
        if len(pairs) > 1:
            raise UserError("buddy.error.which_pair", numbers=", ".join(str(p.id) for p in pairs))
        return pairs[0]

    @command("buddy checkin", aliases=["buddy check-in", "buddy gesproken"], english="buddy checkin")
    async def checkin(self, ctx: Context, *, answer: str) -> None:
        """Answer "have you met yet?": ja, nog niet or stop (and the pair's number if you have several)."""
        words = answer.lower().split()
        number: int | None = None
        if words and words[-1].lstrip("#").isdigit():
            number = int(words.pop().lstrip("#"))
        said = CHECKIN_ANSWERS.get(" ".join(words))
        if said is None:
            raise UserError("buddy.error.checkin_answer", value=answer[:40])
        pair = await self._own_pair(ctx, number)
        elapsed = self.services.clock.now() - pair.started_at
        round_number = sum(1 for weeks in self.settings.checkin_weeks if elapsed >= timedelta(weeks=weeks))
        await self.store.record_checkin(pair.id, round_number, ctx.sender, said)
        if said == "stop":
            await self._end(ctx, pair)
            return
        await ctx.reply(
            "buddy.checkin.yes" if said == "yes" else "buddy.checkin.not_yet",
            room=self._room_link(pair.room_id or ""),
        )

    @command("buddy stop", aliases=["buddy beëindig", "buddy afronden"], english="buddy stop")
    async def stop_pair(self, ctx: Context, number: int | None = None) -> None:
        """End a buddy pair, kindly for both."""
        await self._end(ctx, await self._own_pair(ctx, number))

    async def _end(self, ctx: Context, pair: BuddyPair) -> None:
        if not await self.store.end_pair(pair.id):
            raise UserError("buddy.error.pair_not_found", number=pair.id)
        await self._cancel_checkins(pair.id)
        other = pair.member_b if pair.member_a == ctx.sender else pair.member_a
        if other:
            await self._dm(other, "buddy.stop.partner", f"buddy.ended.{pair.id}", number=pair.id)
        await ctx.reply("buddy.stop.done", number=pair.id)

    async def _cancel_checkins(self, pair_id: int) -> None:
        for round_number in range(1, len(self.settings.checkin_weeks) + 1):
            await self.services.scheduler.cancel(checkin_job_id(pair_id, round_number))

    # -- status --------------------------------------------------------------------------

    @command("buddy status", aliases=["buddy overzicht"], english="buddy status")
    async def status(self, ctx: Context) -> None:
        """Your availability, your requests and your buddy pairs."""
        lines: list[Markup] = []
        state = await self.store.availability(ctx.sender)
        if state is not None and state.available:
            lines.append(ctx.fragment("buddy.status.available", max=state.max_pairs))
            if state.paused_until and state.paused_until > self._today():
                lines.append(
                    ctx.fragment("buddy.status.paused", date=format_date(state.paused_until, ctx.language))
                )
        else:
            lines.append(ctx.fragment("buddy.status.not_available"))
        for request in await self.store.requests_of(ctx.sender):
            if request.status in (SEARCHING, EXHAUSTED):
                lines.append(
                    ctx.fragment(
                        "buddy.status.request",
                        number=request.id,
                        state=ctx.text(f"buddy.status.request_{request.status}"),
                        asked=await self.store.offer_count(request.id),
                    )
                )
        for pair in await self.store.pairs_of(ctx.sender):
            other = pair.member_b if pair.member_a == ctx.sender else pair.member_a
            lines.append(
                ctx.fragment(
                    "buddy.status.pair_active" if pair.status == ACTIVE else "buddy.status.pair_ended",
                    number=pair.id,
                    partner=self._mention(ctx.language, other)
                    if other
                    else ctx.fragment("buddy.status.former"),
                    since=format_date(pair.started_at.date(), ctx.language),
                    room=self._room_link(pair.room_id or ""),
                )
            )
        await ctx.reply("buddy.status.report", lines=Markup.join(lines))

    # -- privacy -------------------------------------------------------------------------

    async def erase_member(self, user_id: UserId) -> int:
        """Erase the member; requests waiting on them move on, partners hear kindly."""
        moved: list[tuple[int, int]] = []
        for offer in await self.store.pending_offers():
            if offer.candidate_id == user_id:
                request_id = await self.store.close_offer(offer.id, WITHDRAWN)
                await self.services.scheduler.cancel(offer_job_id(offer.id))
                if request_id is not None:
                    moved.append((request_id, offer.id))
        for request in await self.store.requests_of(user_id):
            pending = await self.store.pending_offer(request.id)
            if pending is not None:
                await self.store.close_offer(pending.id, WITHDRAWN)
                await self.services.scheduler.cancel(offer_job_id(pending.id))
            await self.store.finish_request(request.id, CANCELLED)
        for pair in await self.store.pairs_of(user_id, active_only=True):
            await self._cancel_checkins(pair.id)
            other = pair.member_b if pair.member_a == user_id else pair.member_a
            if other and await self.store.end_pair(pair.id):
                await self._dm(other, "buddy.stop.partner_left", f"buddy.left.{pair.id}", number=pair.id)
        removed = await self.store.erase_member(user_id)
        for request_id, offer_id in moved:
            await self._move_on(request_id, offer_id)
        return removed
