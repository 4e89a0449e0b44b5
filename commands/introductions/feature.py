"""Introductions by profession: the welcome DM, ``!intro``, profiles and the practice
spotlight. The directory's commands (``!zoek``, ``!leden``) are in ``finding``, what the
digest and the stats read in ``sources``: mixins of the one feature class."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.context import Context
from bot.converters import Options
from bot.errors import UserError
from bot.formatting import Markup
from bot.ids import EventId, RoomId, UserId
from bot.locks import KeyedLocks
from bot.registry import command, listener
from bot.scheduler.policy import MissedPolicy
from bot.services import Services
from bot.storage.models import Conversation
from bot.transport import MemberJoined, OutgoingMessage
from commands.introductions.cards import CardRenderer
from commands.introductions.directory import DirectoryIndex
from commands.introductions.fields import FIELDS, FieldParser, field_named, parse_fields
from commands.introductions.finding import DirectoryCommands
from commands.introductions.flow import FLOW_NAME, FREE_TEXT_FIELDS, HAS_PROFILE, ONE_LINE, WELCOME, IntroFlow
from commands.introductions.offers import answer_name, offers_in
from commands.introductions.records import ProfileRecord
from commands.introductions.settings import IntroductionSettings
from commands.introductions.sources import IntroductionSources
from commands.introductions.spotlight import pick_next
from commands.introductions.store import LIST_FIELDS, PROFILE_FIELDS, ProfileStore, answers_of

log = logging.getLogger(__name__)

SPOTLIGHT_JOB = "introductions.spotlight"
REQUIRED_FIELDS = ("profession", "experience", "region")


class Introductions(DirectoryCommands, IntroductionSources):
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
        self._learn_find_options()
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

    # -- privacy ---------------------------------------------------------------------

    async def erase_member(self, user_id: UserId) -> int:
        card = await self.store.card_of(user_id)
        if card is not None:
            await self._redact_card(user_id, card)
        self.directory.remove(user_id)
        return await self.store.erase_member(user_id)


def _answer_value(name: str, value: Any) -> Any:
    """A profile value as the conversation keeps it (yes/no flags as choice values)."""
    if name in ("listed", "spotlight"):
        return "yes" if value else "no"
    return value


def _record_value(name: str, value: Any) -> Any:
    if name in ("listed", "spotlight"):
        return value in (True, "yes")
    return value
