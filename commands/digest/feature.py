"""The member's digest: once a week (or a month), what is waiting for them.

Opt-in (``!digest aan``); sent Monday 08:30 in the community time zone, through the
nudge service (so it counts against the weekly budget and keeps out of quiet hours).
Its sections come from every feature that implements
:class:`~commands.digest.sources.DigestSource`; empty sections are left out, lines in
threads the member already took part in too, and when nothing is left no digest goes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import ensure_utc
from bot.context import Context
from bot.errors import UserError
from bot.formatting import Markup
from bot.ids import UserId
from bot.nudges.planning import NudgeRequest
from bot.nudges.records import deliver_job_id
from bot.registry import Feature, command, listener
from bot.scheduler.policy import MissedPolicy
from bot.services import Services
from bot.transport import IncomingMessage
from commands.digest.compose import ComposedSection, compose, render_body
from commands.digest.sources import DigestRequest, DigestSection, DigestSource, markup_param
from commands.digest.store import MONTHLY, WEEKLY, DigestStore
from commands.introductions.store import ProfileStore

log = logging.getLogger(__name__)

SEND_KIND = "digest:send"
DIGEST_KIND = "digest"
"""The nudge kind of a digest."""
SEND_JOB = "digest:weekly"
SEND_CRON = "30 8 * * mon"
BATCH = 500
"""Members handled per batch by the weekly job: memory stays bounded."""
WINDOW = {WEEKLY: timedelta(days=7), MONTHLY: timedelta(days=28)}


def is_monthly_occurrence(occurrence: datetime, timezone: str) -> bool:
    """Monthly digests go on the first Monday of the month."""
    return occurrence.astimezone(ZoneInfo(timezone)).day <= 7


class Digest(Feature):
    name = "digest"
    offer_question = "digest.onboarding.ask"
    """Asked at the end of a first introduction (see ``commands.introductions.offers``)."""

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.store = DigestStore(services.db, services.clock)
        self.profiles = ProfileStore(services.db, services.clock)
        self.sources: list[DigestSource] = []
        services.privacy.register("digest", self._export, self._erase)
        services.scheduler.register(SEND_KIND, self._send_job, MissedPolicy.within(timedelta(hours=12)))

    async def start(self) -> None:
        self.sources = [f for f in self.services.registry.features if isinstance(f, DigestSource)]
        await self.services.scheduler.schedule_cron(SEND_JOB, SEND_KIND, SEND_CRON)
        await self.store.prune()

    # -- commands ------------------------------------------------------------------------

    @command("digest", aliases=["samenvatting", "overzicht"], english="digest")
    async def digest(self, ctx: Context, on: bool | None = None) -> None:
        """Get a short overview of what waits for you, every week (on or off)."""
        if on is None:
            sub = await self.store.get(ctx.sender)
            enabled = bool(sub and sub.enabled)
            rhythm = sub.rhythm if sub else WEEKLY
            await ctx.reply(
                "digest.status.on" if enabled else "digest.status.off",
                rhythm=ctx.text(f"digest.rhythm.{rhythm}"),
            )
            return
        sub = await self.store.choose(ctx.sender, enabled=on)
        await ctx.reply("digest.on" if on else "digest.off", rhythm=ctx.text(f"digest.rhythm.{sub.rhythm}"))

    @command("digest wekelijks", aliases=["digest week", "digest elke week"], english="digest weekly")
    async def weekly(self, ctx: Context) -> None:
        """Receive the digest every Monday."""
        await self.store.choose(ctx.sender, enabled=True, rhythm=WEEKLY)
        await ctx.reply("digest.rhythm_set", rhythm=ctx.text("digest.rhythm.weekly"))

    @command("digest maandelijks", aliases=["digest maand", "digest elke maand"], english="digest monthly")
    async def monthly(self, ctx: Context) -> None:
        """Receive the digest on the first Monday of the month."""
        await self.store.choose(ctx.sender, enabled=True, rhythm=MONTHLY)
        await ctx.reply("digest.rhythm_set", rhythm=ctx.text("digest.rhythm.monthly"))

    @command("digest nu", aliases=["digest voorbeeld", "digest preview"], english="digest now")
    async def now(self, ctx: Context) -> None:
        """See your digest right away (a preview in your DM; it does not count as a nudge)."""
        sub = await self.store.get(ctx.sender)
        rhythm = sub.rhythm if sub else WEEKLY
        now = self.services.clock.now()
        built = await self.build([(ctx.sender, rhythm)], now, {ctx.sender: ctx.language})
        body = built.get(ctx.sender)
        if body is None:
            raise UserError("digest.preview.empty")
        # Buddy requests are private: the preview goes to the member's DM, never a room.
        if not ctx.is_direct:
            await ctx.reply("digest.preview.sent_to_dm")
        await ctx.send_dm("digest.preview.message", body=body)

    async def offer_answered(self, ctx: Context, accepted: bool) -> Markup:
        """The answer to the onboarding question: yes subscribes; no stores nothing new
        (and switches off a digest the member had turned on before)."""
        sub = await self.store.get(ctx.sender)
        if accepted or (sub is not None and sub.enabled):
            sub = await self.store.choose(ctx.sender, enabled=accepted)
        rhythm = ctx.text(f"digest.rhythm.{sub.rhythm if sub else WEEKLY}")
        return ctx.fragment("digest.onboarding.on" if accepted else "digest.onboarding.off", rhythm=rhythm)

    # -- activity ------------------------------------------------------------------------

    @listener(IncomingMessage)
    async def on_message(self, message: IncomingMessage) -> None:
        """Remember the threads a member took part in (ids only), so the digest skips them."""
        if message.is_direct or message.sender == self.services.transport.own_user_id:
            return
        if not self.services.rooms.is_known(message.room_id):
            return
        now = self.services.clock.now()
        for target in {message.thread_root, message.reply_to}:
            if target is not None:
                await self.store.record_activity(message.sender, target, now)

    # -- building ------------------------------------------------------------------------

    async def build(
        self, members: Sequence[tuple[str, str]], now: datetime, languages: dict[str, str] | None = None
    ) -> dict[str, Markup]:
        """The digest body of each member that has one (members without are absent)."""
        users = [user for user, _ in members]
        default = self.services.config.community.language
        langs = await self.store.languages([u for u in users if u not in (languages or {})])
        langs.update(languages or {})
        profiles = await self.profiles.professions_and_themes(users)
        requests: list[DigestRequest] = []
        for user, rhythm in members:
            profession, themes = profiles.get(user, (None, ()))
            requests.append(
                DigestRequest(
                    user_id=user,
                    language=langs.setdefault(user, default),
                    profession=profession,
                    themes=themes,
                    since=now - WINDOW.get(rhythm, WINDOW[WEEKLY]),
                    now=now,
                )
            )
        per_member: dict[str, list[DigestSection]] = {}
        for source in self.sources:
            try:
                found = await source.digest_sections(requests)
            except Exception:
                log.exception("digest source %s failed", type(source).__name__)
                continue
            for user, section in found.items():
                per_member.setdefault(user, []).append(section)
        activity = await self.store.activity(per_member)
        bodies: dict[str, Markup] = {}
        for user, sections in per_member.items():
            composed = compose(sections, activity.get(user, set()))
            if composed:
                language = langs[user]
                bodies[user] = render_body(composed, lambda c, lang=language: self._block(lang, c))  # type: ignore[misc]
        return bodies

    def _block(self, language: str, section: ComposedSection) -> Markup:
        catalogue = self.services.catalogue
        lines = list(section.lines)
        if section.more:
            lines.append(catalogue.fragment(language, "digest.more", count=section.more))
        return catalogue.fragment(language, "digest.section", title=section.title, lines=Markup.join(lines))

    async def _send_job(self, job_id: str, payload: dict[str, Any]) -> None:
        await self.store.prune()
        occurrence = (
            ensure_utc(datetime.fromisoformat(payload["occurrence"])) if "occurrence" in payload else None
        )
        await self.send_all(occurrence or self.services.clock.now())

    async def send_all(self, occurrence: datetime) -> int:
        """Plan this occurrence's digests as nudges; returns how many were planned.

        Idempotent: the nudge's dedupe key names the member and the occurrence."""
        monthly_too = is_monthly_occurrence(occurrence, self.services.config.community.timezone)
        members = [
            (user, rhythm)
            for user, rhythm in await self.store.subscribers()
            if rhythm == WEEKLY or (rhythm == MONTHLY and monthly_too)
        ]
        stamp = occurrence.strftime("%Y%m%d")
        planned = 0
        for start in range(0, len(members), BATCH):
            bodies = await self.build(members[start : start + BATCH], occurrence)
            requests = [
                NudgeRequest(
                    user,
                    DIGEST_KIND,
                    "digest.message",
                    {"body": markup_param(body)},
                    dedupe_key=f"digest:{user}:{stamp}",
                    expires_at=occurrence + timedelta(days=3),
                )
                for user, body in bodies.items()
            ]
            # One batch: the nudge service plans them in a few transactions, with the
            # same budget, quiet hours and opt-out as one by one.
            ids = await self.services.nudges.nudge_many(requests)
            sent = [r.user_id for r, nudge_id in zip(requests, ids, strict=True) if nudge_id is not None]
            planned += len(sent)
            await self.store.mark_sent(sent, occurrence)
        log.info("digest %s: %d of %d subscribers have one", stamp, planned, len(members))
        return planned

    # -- privacy -------------------------------------------------------------------------

    async def _export(self, user_id: UserId) -> dict[str, Any]:
        return await self.store.export_member(user_id)

    async def _erase(self, user_id: UserId) -> int:
        """The member's choice and markers, and other members' digests that name them."""
        removed = await self.store.forget_mentions(user_id, DIGEST_KIND)
        for nudge_id, status in removed:
            if status == "pending":
                await self.services.scheduler.cancel(deliver_job_id(nudge_id))
        return await self.store.erase_member(user_id) + len(removed)


__all__ = ["Digest"]
