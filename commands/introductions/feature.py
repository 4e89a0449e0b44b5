"""Introductions by profession: the welcome DM, ``!intro``, profiles, the directory,
the member counts and the practice spotlight."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.context import Context
from bot.converters import Options, tokenize
from bot.errors import UserError
from bot.formatting import Markup
from bot.i18n import Localised
from bot.ids import EventId, RoomId, UserId
from bot.locks import KeyedLocks
from bot.registry import Feature, command, listener
from bot.scheduler.policy import MissedPolicy
from bot.services import Services
from bot.storage.models import Conversation
from bot.textnorm import is_number
from bot.transport import MemberJoined, OutgoingMessage
from commands.digest.sources import ITEMS_SHOWN, DigestItem, DigestRequest, DigestSection
from commands.introductions.cards import CardRenderer
from commands.introductions.directory import DirectoryIndex, DirectoryQuery
from commands.introductions.fields import FIELDS, FieldParser, field_named, parse_fields
from commands.introductions.flow import FLOW_NAME, FREE_TEXT_FIELDS, HAS_PROFILE, ONE_LINE, WELCOME, IntroFlow
from commands.introductions.offers import answer_name, offers_in
from commands.introductions.records import ProfileRecord
from commands.introductions.settings import IntroductionSettings
from commands.introductions.spotlight import pick_next
from commands.introductions.store import LIST_FIELDS, PROFILE_FIELDS, ProfileStore, answers_of
from commands.introductions.vocabulary import DAYS, EXPERIENCE, GOALS, REGIONS
from commands.stats.sources import StatCount

log = logging.getLogger(__name__)

SPOTLIGHT_JOB = "introductions.spotlight"
REQUIRED_FIELDS = ("profession", "experience", "region")
# Search options: the catalogue list of the names members type (any language) -> the
# DirectoryQuery field. The shared concepts (core.options) mean the same in buddy search.
FIND_OPTIONS = {
    "core.options.profession": "professions",
    "core.options.region": "regions",
    "core.options.experience": "experience",
    "core.options.day": "days",
    "core.options.theme": "themes",
    "introductions.options.goals": "goals",
    "introductions.options.meet_professions": "meet_professions",
}
PAGE_OPTION = "introductions.options.page"
# The set-valued fields of a DirectoryQuery, in the order the loosen hint tries them.
FILTERS = ("professions", "regions", "experience", "days", "themes", "goals", "meet_professions")


class Introductions(Feature):
    name = "introductions"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.settings = IntroductionSettings.from_config(services.config)
        self.store = ProfileStore(services.db, services.clock)
        self.parser = FieldParser(services.catalogue, services.professions, tuple(services.config.themes))
        self.cards = CardRenderer(
            services.catalogue,
            services.professions,
            {t.key: dict(t.name) for t in services.config.themes},
            services.members.mention,
        )
        self.directory = DirectoryIndex(self.cards.describe)
        catalogue = services.catalogue
        self._find_options = {
            name: target for key, target in FIND_OPTIONS.items() for name in catalogue.word_list(key)
        }
        self._page_options = catalogue.word_list(PAGE_OPTION)
        # The option names to list when one is unknown, in each member's language.
        shown = (*FIND_OPTIONS, PAGE_OPTION)
        self._known_filters = Localised(
            {
                language: ", ".join(catalogue.first_word(key, language) for key in shown)
                for language in catalogue.languages()
            }
        )
        self.flow = IntroFlow(services, self._finish)
        services.conversations.register(self.flow)
        services.privacy.register("introductions", self.store.export_member, self.erase_member)
        services.scheduler.register(
            SPOTLIGHT_JOB, self._run_spotlight, MissedPolicy.within(self.settings.spotlight_grace)
        )
        # Joins of one member to several rooms arrive together; one welcome each.
        self._welcome_locks: KeyedLocks[str] = KeyedLocks()

    async def start(self) -> None:
        self.directory.load(await self.store.listed())
        if self.settings.spotlight_enabled:
            await self.services.scheduler.schedule_cron(
                SPOTLIGHT_JOB,
                SPOTLIGHT_JOB,
                self.settings.spotlight_cron,
                {},
                timezone=self.services.config.community.timezone,
            )
        else:
            await self.services.scheduler.cancel(SPOTLIGHT_JOB)

    # -- onboarding ------------------------------------------------------------------

    @listener(MemberJoined)
    async def welcome(self, event: MemberJoined) -> None:
        """One welcome DM per member, ever, that ends with the consent question."""
        services = self.services
        if (
            event.user_id == services.transport.own_user_id
            or event.room_id not in services.rooms.community_rooms()
        ):
            return
        async with self._welcome_locks.hold(event.user_id):
            marker = await self.store.marker_for(event.user_id)
            if await self.store.was_welcomed(marker):
                return
            dm = await services.members.direct_room(event.user_id)
            await self._open_welcome_conversation(event.user_id, dm)
            # The outbox is durable and idempotent by transaction id: a crash before the
            # marker is written re-queues the same message, which is then sent once.
            await services.members.tell(
                event.user_id,
                "introductions.welcome",
                txn_id=f"intro.welcome.{marker[:40]}",
                community=services.config.community.name,
                consent=lambda language: services.catalogue.fragment(language, "introductions.ask.consent"),
            )
            await self.store.mark_welcomed(marker)

    async def _open_welcome_conversation(self, user_id: UserId, dm: RoomId) -> None:
        answers: dict[str, Any] = {WELCOME: True}
        existing = await self.store.get(user_id)
        if existing is not None:
            answers.update(answers_of(existing), **{HAS_PROFILE: True})
        try:
            async with self.services.db.transaction() as session:
                if await session.get(Conversation, user_id) is None:
                    self.services.conversations.open_in(session, user_id, FLOW_NAME, dm, answers)
        except IntegrityError:
            log.debug("a conversation was opened concurrently; keeping it")

    # -- !intro ----------------------------------------------------------------------

    @command("intro", aliases=["voorstellen", "introductie", "introduce", "stel voor"], english="introduce")
    async def intro(self, ctx: Context, options: Options) -> None:
        """Introduce yourself: a DM conversation, or everything in one line with options."""
        existing = await self.store.get(ctx.sender)
        if options:
            await self._intro_one_line(ctx, options, existing)
            return
        answers: dict[str, Any] = answers_of(existing) | {HAS_PROFILE: True} if existing else {}
        dm = await self._dm_for(ctx)
        await self.services.conversations.start(ctx, FLOW_NAME, dm, answers)

    async def _dm_for(self, ctx: Context) -> RoomId:
        """The member's DM; in a room, say that the conversation continues there."""
        if ctx.is_direct:
            return ctx.room_id
        dm = await self.services.members.direct_room(ctx.sender)
        await ctx.reply("introductions.continue_in_dm")
        return dm

    async def _intro_one_line(self, ctx: Context, options: Options, existing: ProfileRecord | None) -> None:
        values, unknown = parse_fields(self.parser, options)
        if unknown:
            raise UserError(
                "introductions.error.unknown_fields",
                names=", ".join(unknown[:5]),
                known=", ".join(f.names[0] for f in FIELDS),
            )
        await self._screen(values)
        missing = [name for name in REQUIRED_FIELDS if name not in values and existing is None]
        if missing:
            raise UserError(
                "introductions.error.missing_fields",
                names=", ".join(ctx.text(f"introductions.field.{name}") for name in missing),
            )
        if existing is None:
            # Nothing is stored before consent: the answers wait in the conversation
            # (erased with it) until the member says yes.
            answers = {name: _answer_value(name, value) for name, value in values.items()} | {ONE_LINE: True}
            await self.services.conversations.start(ctx, FLOW_NAME, await self._dm_for(ctx), answers)
            return
        record, _ = await self.store.save(ctx.sender, values)
        await self._after_save(ctx, existing, record)
        await ctx.reply("introductions.saved_one_line")

    async def _screen(self, values: dict[str, Any]) -> None:
        """The member's own texts go on cards in the welcome room and the directory: none
        may hold personal data. Refused before anything is kept, even in a conversation."""
        await self.services.guard.check(*(values.get(name) for name in FREE_TEXT_FIELDS))

    async def _finish(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        """The end of the conversation: store (after consent), post the card, thank."""
        had_profile = bool(answers.get(HAS_PROFILE))
        if answers.get("consent") == "no":
            await ctx.reply("introductions.declined")
            return
        if not had_profile and answers.get("consent") != "yes":
            await ctx.reply("introductions.stopped_nothing_kept")
            return
        values = {name: _record_value(name, answers[name]) for name in PROFILE_FIELDS if name in answers}
        if completed and not answers.get(ONE_LINE):
            # A skipped optional question clears what was there before.
            for name in PROFILE_FIELDS:
                values.setdefault(name, [] if name in LIST_FIELDS else None)
            values["listed"] = bool(values.get("listed"))
            values["spotlight"] = bool(values.get("spotlight")) and bool(values.get("weighing"))
        if "profession" not in values or values["profession"] is None:
            await ctx.reply("introductions.stopped_nothing_kept")
            return
        before = await self.store.get(ctx.sender)
        record, _ = await self.store.save(ctx.sender, values)
        posted = await self._after_save(ctx, before, record)
        extra = await self._answer_offers(ctx, answers)
        if not completed:
            await ctx.reply("introductions.stopped_kept")
        elif posted:
            await ctx.reply("introductions.thanks_posted", room=self._welcome_room_link(), extra=extra)
        elif record.listed:
            await ctx.reply("introductions.thanks_updated")
        else:
            await ctx.reply("introductions.thanks_unlisted", extra=extra)

    async def _answer_offers(self, ctx: Context, answers: dict[str, Any]) -> Markup:
        """Hand each answered offer (the digest) to its feature; what they say is added
        to the thanks. A member who was not asked (one-line intro) hears how to opt in."""
        offers = offers_in(self.services.registry)
        said: list[Markup] = []
        for offer in offers:
            answer = answers.get(answer_name(offer))
            if answer in ("yes", "no"):
                said.append(await offer.offer_answered(ctx, answer == "yes"))
        if offers and not said:
            # The digest is the one offer there is; without it loaded, no hint.
            said.append(ctx.fragment("introductions.thanks_digest_hint"))
        return Markup.join(said, " ")

    async def _after_save(self, ctx: Context, before: ProfileRecord | None, record: ProfileRecord) -> bool:
        """Keep the directory and the welcome-room card in step; True when a card was posted."""
        self.directory.replace(record)
        card = await self.store.card_of(record.user_id)
        if record.listed and card is None:
            return await self._post_card(ctx, record)
        if not record.listed and card is not None:
            # Unlisting takes the introduction out of the welcome room too.
            await self._redact_card(record.user_id, card)
        return False

    async def _post_card(self, ctx: Context, record: ProfileRecord) -> bool:
        room = self.services.rooms.room_id(self.settings.card_room)
        if room is None:
            log.warning("no %s room: introduction card not posted", self.settings.card_room)
            return False
        language = self.services.config.community.language
        rendered = self.services.catalogue.render(
            language, "introductions.card.wrapper", card=self.cards.card(language, record)
        )
        event_id = await self.services.transport.send(
            OutgoingMessage(
                room_id=room, plain=rendered.plain, html=rendered.html, notice=False, txn_id=ctx.next_txn_id()
            )
        )
        await self.store.set_card(record.user_id, room, event_id)
        return True

    async def _redact_card(self, user_id: str, card: tuple[str, str]) -> None:
        await self.services.transport.redact(RoomId(card[0]), EventId(card[1]), None)
        await self.store.clear_card(user_id)

    def _welcome_room_link(self) -> str:
        return self.services.config.rooms.get(self.settings.card_room, self.settings.card_room)

    # -- profiles --------------------------------------------------------------------

    @command("profiel", aliases=["profile", "mijn profiel"], english="profile")
    async def profile(self, ctx: Context, member: UserId | None = None) -> None:
        """Show your own profile, or another member's when they are listed."""
        if member is None or member == ctx.sender:
            own = await self.store.get(ctx.sender)
            if own is None:
                raise UserError("introductions.error.no_profile")
            await ctx.reply("introductions.profile.own", card=self.cards.profile(ctx.language, own, own=True))
            return
        record = self.directory.get(member)
        if record is None:
            # Unlisted and unknown look the same: nobody learns who chose not to be listed.
            raise UserError("introductions.error.not_listed", member=member)
        await ctx.reply(
            "introductions.profile.other", card=self.cards.profile(ctx.language, record, own=False)
        )

    @command(
        "profiel zet", aliases=["profiel wijzig", "profile set", "profile change"], english="profile set"
    )
    async def profile_set(self, ctx: Context, field: str, *, value: str) -> None:
        """Change one field of your profile."""
        found = field_named(field)
        if found is None:
            raise UserError(
                "introductions.error.unknown_field",
                name=field[:40],
                known=", ".join(f.names[0] for f in FIELDS),
            )
        before = await self.store.get(ctx.sender)
        if before is None:
            raise UserError("introductions.error.no_profile")
        parsed = found.parse(self.parser, value)
        await self._screen({found.attribute: parsed})
        if found.attribute == "spotlight" and parsed and not before.weighing:
            raise UserError("introductions.error.spotlight_needs_weighing")
        record, _ = await self.store.save(ctx.sender, {found.attribute: parsed})
        await self._after_save(ctx, before, record)
        await ctx.reply(
            "introductions.profile.field_saved",
            field=ctx.text(found.label_key),
            card=self.cards.profile(ctx.language, record, own=True),
        )

    # -- the directory ---------------------------------------------------------------

    @command("zoek", aliases=["find", "zoeken", "search", "vind"], english="find")
    async def find(self, ctx: Context, options: Options, *, words: str | None = None) -> None:
        """Find members by profession, region, experience, day, theme, goal or free text."""
        query, page = self._query(options, words)
        result = self.directory.search(
            query, page=page, page_size=self.settings.page_size, excluding=ctx.sender
        )
        if result.total == 0:
            await ctx.reply("introductions.find.none", hint=self._loosen_hint(ctx, query, options))
            return
        first = (result.page - 1) * self.settings.page_size
        rows = [self.cards.row(ctx.language, first + i + 1, r) for i, r in enumerate(result.results)]
        more = (
            ctx.fragment("introductions.find.more", next=result.page + 1, pages=result.pages)
            if result.page < result.pages
            else Markup("", "")
        )
        await ctx.reply(
            "introductions.find.results",
            total=result.total,
            page=result.page,
            pages=result.pages,
            rows=Markup.join(rows),
            more=more,
        )

    def _query(self, options: Options, words: str | None) -> tuple[DirectoryQuery, int]:
        wanted: dict[str, set[str]] = {k: set() for k in FILTERS}
        page = 1
        for name, text in options.items():
            if name in self._page_options:
                if not is_number(text.strip()) or int(text) < 1:
                    raise UserError("introductions.error.page", value=text[:10])
                page = int(text)
                continue
            target = self._find_options.get(name)
            if target is None:
                raise UserError(
                    "introductions.error.unknown_filter", name=name[:40], known=self._known_filters
                )
            if target in ("professions", "meet_professions"):
                wanted[target].update(self.parser.professions_list(text))
            elif target == "regions":
                wanted[target].update(self.parser.many(REGIONS, text))
            elif target == "experience":
                wanted[target].update(self.parser.many(EXPERIENCE, text))
            elif target == "days":
                wanted[target].update(self.parser.many(DAYS, text))
            elif target == "goals":
                wanted[target].update(self.parser.many(GOALS, text))
            else:
                wanted[target].update(self.parser.themes_list(text))
        free = [t.text.lower() for t in tokenize(words or "") if "=" not in t.text][:8]
        query = DirectoryQuery(**{k: frozenset(v) for k, v in wanted.items()}, words=tuple(free))
        return query, page

    def _loosen_hint(self, ctx: Context, query: DirectoryQuery, options: Options) -> Markup:
        """Which filter to drop to find someone: the one whose removal finds the most."""
        best: tuple[int, str] | None = None
        for name in (*FILTERS, "words"):
            if not getattr(query, name):
                continue
            looser = _without(query, name)
            total = self.directory.count(looser, excluding=ctx.sender)
            if total and (best is None or total > best[0]):
                best = (total, name)
        if best is None:
            return ctx.fragment("introductions.find.hint_general")
        return ctx.fragment(
            "introductions.find.hint_drop",
            filter=ctx.text(f"introductions.find.filter.{best[1]}"),
            total=best[0],
        )

    @command("leden", aliases=["members", "ledenlijst", "wie"], english="members")
    async def members(self, ctx: Context) -> None:
        """How many listed members per profession and region: who is here, who is missing."""
        counts = self.directory.counts()
        profession_lines = []
        missing = []
        for profession in self.services.professions.items:
            count = counts.by_profession.get(profession.key, 0)
            if count == 0 and profession.key != "anders":
                missing.append(profession.label(ctx.language))
            if count:
                profession_lines.append(
                    ctx.fragment(
                        "introductions.members.line",
                        label=f"{profession.badge} {profession.label(ctx.language)}",
                        count=count,
                    )
                )
        region_lines = [
            ctx.fragment(
                "introductions.members.line",
                label=REGIONS.label(self.services.catalogue, ctx.language, key),
                count=count,
            )
            for key in REGIONS.keys()
            if (count := counts.by_region.get(key, 0))
        ]
        await ctx.reply(
            "introductions.members.report" if counts.total else "introductions.members.empty",
            total=counts.total,
            professions=Markup.join(profession_lines),
            regions=Markup.join(region_lines),
            missing=ctx.fragment("introductions.members.missing", professions=", ".join(missing))
            if missing
            else Markup("", ""),
        )

    # -- the practice spotlight ------------------------------------------------------

    async def _run_spotlight(self, job_id: str, payload: dict[str, Any]) -> None:
        room = self.services.rooms.room_id(self.settings.spotlight_room)
        if room is None:
            log.warning("no %s room: spotlight skipped", self.settings.spotlight_room)
            return
        candidates = [c for c in await self.store.spotlight_candidates() if c.listed]
        history = await self.store.spotlight_history()
        pick = pick_next(candidates, history, [p.key for p in self.services.professions.items])
        if pick is None:
            log.info("spotlight: nobody opted in; nothing posted")
            return
        record = pick.record
        language = self.services.config.community.language
        rendered = self.services.catalogue.render(
            language,
            "introductions.spotlight.post",
            badge=self.cards.badge(record.profession),
            member=self.cards.mention(language, record.user_id),
            profession=self.cards.profession(language, record.profession),
            weighing=record.weighing or "",
        )
        # One transaction per occurrence: however often this runs for it, one post.
        txn = f"intro.spotlight.{payload.get('occurrence', '')}"
        await self.services.outbox.enqueue(
            OutgoingMessage(room_id=room, plain=rendered.plain, html=rendered.html, notice=False, txn_id=txn)
        )
        await self.store.record_spotlight(record.user_id, record.profession, pick.round)

    # -- digest and stats ------------------------------------------------------------

    async def digest_sections(self, requests: Sequence[DigestRequest]) -> Mapping[str, DigestSection]:
        """New listed members of the professions a member wants to meet; without that
        choice, of other professions (with themes, those who share one of them)."""
        if not requests:
            return {}
        newcomers = await self.store.listed_since(min(r.since for r in requests))
        if not newcomers:
            return {}
        chosen = await self.store.meet_choices([r.user_id for r in requests])
        catalogue = self.services.catalogue
        sections: dict[str, DigestSection] = {}
        for request in requests:
            wanted = chosen.get(request.user_id)
            found = [
                p
                for created, p in newcomers
                if created >= request.since
                and p.user_id != request.user_id
                and _is_newcomer_for(request, wanted, p)
            ]
            if not found:
                continue
            items = tuple(
                DigestItem(
                    catalogue.fragment(
                        request.language,
                        "introductions.digest.line",
                        member=self.services.members.mention(request.language, p.user_id),
                        profession=self._digest_label(request.language, p.profession),
                    )
                )
                for p in found[:ITEMS_SHOWN]
            )
            title = "introductions.digest.title_chosen" if wanted else "introductions.digest.title"
            sections[request.user_id] = DigestSection(
                30,
                catalogue.fragment(request.language, title),
                items,
                more=max(len(found) - ITEMS_SHOWN, 0),
            )
        return sections

    def _digest_label(self, language: str, key: str) -> str:
        found = self.services.professions.get(key)
        return found.label(language) if found else key

    async def stats_counts(self, since: datetime, until: datetime) -> list[StatCount]:
        """Members (profiles) per profession and how many introduced themselves."""
        counts: list[StatCount] = []
        for profession, (total, cards) in sorted((await self.store.profession_counts()).items()):
            counts.append(StatCount("members", profession, total))
            counts.append(StatCount("introduced", profession, cards))
        return counts

    # -- privacy ---------------------------------------------------------------------

    async def erase_member(self, user_id: UserId) -> int:
        card = await self.store.card_of(user_id)
        if card is not None:
            await self._redact_card(user_id, card)
        self.directory.remove(user_id)
        return await self.store.erase_member(user_id)


def _is_newcomer_for(request: DigestRequest, wanted: tuple[str, ...] | None, newcomer: ProfileRecord) -> bool:
    """Whether a new member belongs in this member's digest. A chosen profession counts
    as asked for, themes or not (the member said whom they look for); without a choice,
    another profession that shares a theme (any, when the member has no themes)."""
    if wanted:
        return newcomer.profession in wanted
    return newcomer.profession != request.profession and (
        not request.themes or bool(set(newcomer.themes) & set(request.themes))
    )


def _answer_value(name: str, value: Any) -> Any:
    """A profile value as the conversation keeps it (yes/no flags as choice values)."""
    if name in ("listed", "spotlight"):
        return "yes" if value else "no"
    return value


def _record_value(name: str, value: Any) -> Any:
    if name in ("listed", "spotlight"):
        return value in (True, "yes")
    return value


def _without(query: DirectoryQuery, name: str) -> DirectoryQuery:
    """The same query with one filter dropped."""
    if name == "words":
        return dataclasses.replace(query, words=())
    empty: dict[str, Any] = {name: frozenset()}
    return dataclasses.replace(query, **empty)
