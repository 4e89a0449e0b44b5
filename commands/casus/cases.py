"""The case commands: the current case with its meter, the bank, the planning, a
member's invitations switch, and posting or closing a case by hand (moderators)."""

from __future__ import annotations

from datetime import datetime

from bot.command_checks import moderator_only
from bot.context import Context
from bot.errors import UserError
from bot.formatting import Markup
from bot.registry import check, command
from commands.casus.library import STEPS
from commands.casus.parts import CasusParts
from commands.casus.rotation import upcoming
from commands.casus.store import OPEN, RunRecord


class CaseCommands(CasusParts):
    @command("casus", english="case")
    async def show(self, ctx: Context) -> None:
        """The current case of this theme room: its step, a link and the perspective meter."""
        await self.state.load()
        theme = self.theme_here(ctx)
        themes = [theme] if theme else [t.key for t in self.services.config.themes]
        lines: list[Markup] = []
        for key in themes:
            run = await self.store.current_run(key)
            if run is not None and run.status == OPEN and run.root_event_id:
                lines.append(await self._show_line(ctx, run))
        if not lines:
            raise UserError("casus.show.none_here" if theme else "casus.show.none")
        await ctx.reply("casus.show.report", lines=Markup.join(lines, "\n\n"))

    async def _show_line(self, ctx: Context, run: RunRecord) -> Markup:
        case = self.state.case(run.case_id)
        return ctx.fragment(
            "casus.show.line",
            theme=self.text.theme_label(ctx.language, run.theme),
            title=case.title_in(ctx.language) if case else run.case_id,
            id=self.state.number_of(run.case_id) or run.case_id,
            number=run.step,
            step=ctx.text(f"casus.step.{STEPS[run.step - 1]}"),
            link=self.text.link(run.room_id, run.root_event_id),
            meter=self.text.meter_text(ctx.language, await self.state.meter(run.id)),
        )

    @command("casus lijst", aliases=["casussen"], english="case list")
    async def list_cases(self, ctx: Context, theme: str | None = None) -> None:
        """The cases of this theme (or of every theme), each with its id."""
        await self.state.load()
        wanted = self._theme_key(theme) if theme else self.theme_here(ctx)
        themes = [wanted] if wanted else [t.key for t in self.services.config.themes]
        blocks: list[Markup] = []
        for key in themes:
            rows = []
            for case_id in self.state.bank(key):
                case = self.state.case(case_id)
                if case is not None:
                    rows.append(
                        ctx.fragment(
                            "casus.list.row",
                            id=self.state.number_of(case.id) or case.id,
                            title=case.title_in(ctx.language),
                        )
                    )
            if rows:
                blocks.append(
                    ctx.fragment(
                        "casus.list.theme",
                        theme=self.text.theme_label(ctx.language, key),
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
        await self.state.load()
        now = self.services.clock.now()
        zone = self.services.config.community.timezone
        settings = self.state.settings
        # (when, theme order, row): one list by date, not theme after theme.
        rows: list[tuple[datetime, int, Markup]] = []
        for order, theme in enumerate(self.services.config.themes):
            schedule = settings.schedule_of(theme.key)
            if schedule is None or not settings.enabled:
                continue
            moments = settings.next_posts(schedule, now, zone, 2)
            names = upcoming(self.state.bank(theme.key), await self.store.history(theme.key), len(moments))
            for moment, case_id in zip(moments, names, strict=False):
                case = self.state.case(case_id)
                row = ctx.fragment(
                    "casus.planning.row",
                    theme=theme.label(ctx.language),
                    when=ctx.when(moment),
                    title=case.title_in(ctx.language) if case else case_id,
                    id=self.state.number_of(case_id) or case_id,
                )
                rows.append((moment, order, row))
        if not rows:
            raise UserError("casus.planning.none")
        rows.sort(key=lambda item: (item[0], item[1]))
        await ctx.reply("casus.planning.report", rows=Markup.join([row for _, _, row in rows]))

    @command("casus uitnodigingen", aliases=["casus uitnodiging"], english="case invitations")
    async def invitations_switch(self, ctx: Context, wanted: bool) -> None:
        """Switch invitations to bring your profession's view to a case off (uit) or on (aan)."""
        await self.store.set_invitations(ctx.sender, wanted)
        await ctx.reply("casus.invitations.on" if wanted else "casus.invitations.off")

    @command("casus plaats", aliases=["casus post"], english="case post")
    @check(moderator_only)
    async def post_now(self, ctx: Context, case_id: str) -> None:
        """Post a case now in its theme room (moderators)."""
        await self.state.load()
        case = self.state.find_case(case_id)
        if case is None:
            raise UserError("casus.error.unknown_case", value=case_id[:40])
        run = await self.posting.post_next(case.theme, f"manual:{ctx.message.event_id}", case_id=case.id)
        theme = self.text.theme_label(ctx.language, case.theme)
        if run is None or not run.root_event_id:
            raise UserError("casus.error.no_room", theme=theme)
        link = self.text.link(run.room_id, run.root_event_id)
        await ctx.reply("casus.posted", title=case.title_in(ctx.language), theme=theme, link=link)

    @command("casus sluit", aliases=["casus afsluiten"], english="case close")
    @check(moderator_only)
    async def close_now(self, ctx: Context) -> None:
        """Close the current case of this theme room with its summary (moderators)."""
        await self.state.load()
        theme = self.theme_here(ctx)
        if theme is None:
            raise UserError("casus.error.not_a_theme_room")
        run = await self.store.current_run(theme)
        if run is None or run.status != OPEN:
            raise UserError("casus.show.none_here")
        await self.closing.close(run.id)
        await self.services.outbox.deliver_due()
        await ctx.reply("casus.closed")
