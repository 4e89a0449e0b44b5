"""``!agenda-link``: a member's secret, revocable URL of an iCalendar feed of the
events they signed up for, served by the organisers' web app (off without ``web:``)."""

from __future__ import annotations

from typing import Any

from bot.context import Context
from bot.errors import UserError
from bot.ids import UserId
from bot.registry import Feature, command
from bot.services import Services
from commands.calendar_feed.paths import path_of
from commands.calendar_feed.store import FeedStore
from commands.organiser_web.settings import WebSettings


class CalendarFeed(Feature):
    name = "calendar_feed"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        # The feed is a page of the one web app, so it follows that app's ``web:`` section.
        self.web = WebSettings.from_config(services.config)
        self.store = FeedStore(services.db, services.clock)

    def install(self) -> None:
        self.services.privacy.register("calendar_feed", self.store.export_member, self.store.erase_member)

    @command("agenda-link", aliases=["agendalink", "kalender-link", "calendar-link"], english="calendar-link")
    async def agenda_link(self, ctx: Context) -> None:
        """Your personal calendar feed of the events you signed up for (by DM)."""
        self._enabled()
        if await self.store.has_link(ctx.sender):
            await self._tell(ctx, "calendar_feed.exists")
        else:
            await self._tell(ctx, "calendar_feed.link", url=self._url(await self.store.new_link(ctx.sender)))

    @command(
        "agenda-link nieuw",
        aliases=["agenda-link vernieuw", "agenda-link new", "calendar-link new"],
        english="calendar-link new",
    )
    async def agenda_link_new(self, ctx: Context) -> None:
        """A new feed URL; the old one stops working."""
        self._enabled()
        had = await self.store.has_link(ctx.sender)
        url = self._url(await self.store.new_link(ctx.sender))
        await self._tell(ctx, "calendar_feed.replaced" if had else "calendar_feed.link", url=url)

    @command(
        "agenda-link intrekken",
        aliases=["agenda-link stop", "agenda-link revoke", "calendar-link revoke"],
        english="calendar-link revoke",
    )
    async def agenda_link_revoke(self, ctx: Context) -> None:
        """Stop your feed: its URL no longer works."""
        revoked = await self.store.revoke(ctx.sender)
        await self._tell(ctx, "calendar_feed.revoked" if revoked else "calendar_feed.none")

    def _enabled(self) -> None:
        if not self.web.enabled:
            raise UserError("calendar_feed.error.disabled")

    def _url(self, token: str) -> str:
        return self.web.base_url + path_of(token)

    async def _tell(self, ctx: Context, key: str, **params: Any) -> None:
        """The answer goes to the member's DM: the URL is a key to their agenda."""
        await self.services.members.tell(
            UserId(ctx.sender), key, txn_id=f"agenda.{ctx.message.event_id}", answering=ctx, **params
        )
        if not ctx.is_direct:
            await ctx.reply("calendar_feed.sent_to_dm")
