"""The ``!beheer`` command (a one-time login link by DM) and the web server's life:
started with the features, stopped with them, absent without a ``web:`` section."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING

from bot.context import Context
from bot.errors import CheckFailure, UserError
from bot.ids import UserId
from bot.registry import Feature, check, command
from bot.services import Services
from commands.organiser_web.permission import may_use_web
from commands.organiser_web.settings import WebSettings
from commands.organiser_web.store import WebStore

if TYPE_CHECKING:
    from aiohttp import web

    from commands.organiser_web.web import OrganiserWeb

log = logging.getLogger(__name__)


async def organisers_and_moderators(ctx: Context) -> None:
    feature = ctx.command.feature if ctx.command is not None else None
    if isinstance(feature, OrganiserWebFeature) and await may_use_web(feature.services, ctx.sender):
        return
    raise CheckFailure("organiser_web.error.only")


class OrganiserWebFeature(Feature):
    name = "organiser_web"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.settings = WebSettings.from_config(services.config)
        self.store = WebStore(services.db, services.clock)
        self._runner: web.AppRunner | None = None

    @cached_property
    def web(self) -> OrganiserWeb:
        # The web server's side of aiohttp and the pages load only for a bot whose page
        # is on (about 1.5 MiB of an idle bot's memory otherwise; bench/scale.py).
        from commands.organiser_web.web import OrganiserWeb

        return OrganiserWeb(self.services, self.store)

    def install(self) -> None:
        self.services.privacy.register("organiser_web", self.store.export_member, self.store.erase_member)

    async def start(self) -> None:
        if not self.settings.enabled:
            return
        from aiohttp import web

        self._runner = web.AppRunner(self.web.application(), access_log=None)
        await self._runner.setup()
        host, port = self.settings.host_port
        await web.TCPSite(self._runner, host, port).start()
        log.info("organisers' web page on %s", self.settings.base_url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @command("beheer", aliases=["dashboard"], english="dashboard")
    @check(organisers_and_moderators)
    async def beheer(self, ctx: Context) -> None:
        """A one-time login link for the organisers' web page, by DM."""
        if not self.settings.enabled:
            raise UserError("organiser_web.error.disabled")
        token = await self.store.new_link(ctx.sender)
        await self.services.members.tell(
            UserId(ctx.sender),
            "organiser_web.link",
            txn_id=f"web.link.{ctx.message.event_id}",
            answering=ctx,
            url=f"{self.settings.base_url}/login/{token}",
        )
