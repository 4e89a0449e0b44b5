"""``!help``, ``!taal``, ``!status``, ``!stem`` (:mod:`commands.basics.polls`), and telling a
member about a new device."""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from bot.command_checks import admin_only, dm_only
from bot.context import Context
from bot.errors import UserError
from bot.formatting import Markup, Rendered
from bot.help import dm_only_command, may_run, summary, usage
from bot.registry import Command, check, command, listener
from bot.services import Services
from bot.transport import NewDevice
from commands.basics.polls import PollCommands
from commands.basics.settings import FLOW_NAME, SettingsFlow

#: What ``!help`` in a room shows besides the way in (``!intro``): the commands a new
#: member reaches for first. Missing ones (a feature switched off) are left out.
ROOM_HIGHLIGHTS: tuple[str, ...] = ("zoek", "vraag", "buddy zoek", "bijeenkomsten", "taal")
INTRO_COMMAND = "intro"


class CoreCommands(PollCommands):
    name = "core"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        services.conversations.register(SettingsFlow(services))
        # The overview depends only on the language and on which commands the member
        # may run; rendering it is most of the cost of the most used command.
        self._overview_cache: dict[tuple[str, tuple[str, ...]], Rendered] = {}

    @command("help", aliases=["hulp", "h", "?", "commando's", "commands"], english="help")
    async def help(self, ctx: Context, *, topic: str | None = None) -> None:
        """List what the sender may run, or explain one command."""
        catalogue = self.services.catalogue
        prefix = self.services.config.community.command_prefix
        if topic:
            wanted = self.services.registry.resolve(topic.lstrip(prefix).split())
            if wanted is None or wanted[0].hidden:
                nearest = self.services.registry.suggest(topic.lstrip(prefix).split())
                suggestion = nearest.display_name(ctx.language) if nearest else "help"
                raise UserError("core.help.unknown", name=topic[:40], suggestion=suggestion)
            cmd = wanted[0]
            details_key = f"{cmd.key}.details"
            aliases = [n for n in cmd.all_names() if n != cmd.display_name(ctx.language)]
            await ctx.reply(
                "core.help.command",
                usage=usage(cmd, catalogue, ctx.language, prefix),
                summary=summary(cmd, catalogue, ctx.language),
                details=ctx.fragment(details_key) if catalogue.has(details_key) else Markup("", ""),
                aliases=", ".join(f"{prefix}{a}" for a in aliases) or "–",
            )
            return
        groups: dict[str, list[Command]] = defaultdict(list)
        verdicts: dict[object, bool] = {}
        for cmd in self.services.registry.commands:
            if not cmd.hidden and await may_run(ctx, cmd, verdicts):
                groups[cmd.feature.name].append(cmd)
        if not ctx.is_direct:
            # About sixty lines would land on everyone in the room: the room gets the way
            # in and a few commands, the asker the full list in their DM.
            await ctx.reply_rendered(self._render_room_overview(ctx, groups))
            await ctx.send_dm(
                "core.help.overview",
                community=self.services.config.community.name,
                commands=self._overview_lines(ctx, groups),
            )
            return
        cache_key = (ctx.language, tuple(sorted(c.name for cmds in groups.values() for c in cmds)))
        rendered = self._overview_cache.get(cache_key)
        if rendered is None:
            rendered = self._render_overview(ctx, groups)
            self._overview_cache[cache_key] = rendered
        await ctx.reply_rendered(rendered)

    def _render_room_overview(self, ctx: Context, groups: dict[str, list[Command]]) -> Rendered:
        catalogue = self.services.catalogue
        prefix = self.services.config.community.command_prefix
        allowed = {cmd.name: cmd for cmds in groups.values() for cmd in cmds}
        lines = [
            ctx.fragment(
                "core.help.line",
                usage=usage(allowed[name], catalogue, ctx.language, prefix),
                summary=summary(allowed[name], catalogue, ctx.language),
            )
            for name in ROOM_HIGHLIGHTS
            if name in allowed
        ]
        intro = allowed.get(INTRO_COMMAND)
        return catalogue.render(
            ctx.language,
            "core.help_room.overview",
            community=self.services.config.community.name,
            intro=ctx.fragment("core.help_room.intro") if intro else Markup("", ""),
            commands=Markup.join(lines),
        )

    def _render_overview(self, ctx: Context, groups: dict[str, list[Command]]) -> Rendered:
        return self.services.catalogue.render(
            ctx.language,
            "core.help.overview",
            community=self.services.config.community.name,
            commands=self._overview_lines(ctx, groups),
        )

    def _overview_lines(self, ctx: Context, groups: dict[str, list[Command]]) -> Markup:
        catalogue = self.services.catalogue
        prefix = self.services.config.community.command_prefix
        lines = []
        for feature_name in sorted(groups, key=lambda n: (n != "core", n)):
            lines.append(ctx.fragment("core.help.group", group=ctx.text(f"core.feature.{feature_name}")))
            for cmd in sorted(groups[feature_name], key=lambda c: c.display_name(ctx.language)):
                lines.append(
                    ctx.fragment(
                        "core.help.line_dm" if dm_only_command(cmd) else "core.help.line",
                        usage=usage(cmd, catalogue, ctx.language, prefix),
                        summary=summary(cmd, catalogue, ctx.language),
                    )
                )
        return Markup.join(lines)

    @command("taal", aliases=["lang", "language"], english="language")
    async def language(self, ctx: Context, language: Literal["nl", "en"] | None = None) -> None:
        """Show or set the member's language."""
        if language is None:
            await ctx.reply("core.language.current", language=ctx.text(f"core.language.name_{ctx.language}"))
            return
        await self.services.members.set_language(ctx.sender, language)
        ctx.language = language
        await ctx.reply("core.language.set", language=ctx.text(f"core.language.name_{language}"))

    @command("status", english="status")
    @check(admin_only)
    async def status(self, ctx: Context) -> None:
        """Admins: what the bot knows about its rooms and jobs."""
        stats = await self.services.scheduler.stats()
        await ctx.reply(
            "core.status.report",
            rooms=len(self.services.rooms.community_rooms()),
            commands=len(self.services.registry.commands),
            pending_jobs=stats.get("pending", 0),
            failed_jobs=stats.get("failed", 0),
            features=", ".join(f.name for f in self.services.registry.features),
        )

    @command("instellingen", aliases=["voorkeuren", "settings", "preferences"], english="settings")
    @check(dm_only)
    async def settings(self, ctx: Context) -> None:
        """Walk the member through their settings, one question at a time."""
        await ctx.reply("core.settings.intro")
        await self.services.conversations.start(ctx, FLOW_NAME, ctx.room_id)

    @listener(NewDevice)
    async def new_device(self, event: NewDevice) -> None:
        """A device the bot had not seen on the member's account (or a known one with
        another key): they hear it at once, so a stolen password does not go unnoticed."""
        catalogue = self.services.catalogue

        def device(language: str) -> Markup | str:
            if not event.device_name:
                return event.device_id
            return catalogue.fragment(
                language, "core.encryption.device_label", name=event.device_name, device_id=event.device_id
            )

        key = "core.encryption.device_key_changed" if event.key_changed else "core.encryption.new_device"
        await self.services.members.tell(event.user_id, key, txn_id=f"kb.{event.event_id}", device=device)
