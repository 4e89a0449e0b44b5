"""Insight for organisers: is cross-profession dialogue growing?

A listener counts replies and thread replies in community rooms where a member of one
profession answers a member of another (:mod:`commands.stats.recorder`): only day,
profession pair and kind of room are kept, never text or user ids.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.command_checks import moderator_only
from bot.context import Context
from bot.converters import Options
from bot.errors import UserError
from bot.formatting import Markup
from bot.i18n import format_date
from bot.ids import UserId
from bot.registry import Feature, check, command, listener
from bot.services import Services
from bot.transport import IncomingMessage
from commands.introductions.store import ProfileStore
from commands.organiser_web.page_sources import ChartKind, StatsTable, StatsView
from commands.stats.recorder import InteractionRecorder
from commands.stats.report import DEFAULT_DAYS, DERIVED, MAX_DAYS, Report, parse_period, shown, to_csv
from commands.stats.sources import StatsSource

log = logging.getLogger(__name__)


class Stats(Feature):
    name = "stats"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.recorder = InteractionRecorder(services.db, services.clock, services.config.community.timezone)
        self.profiles = ProfileStore(services.db, services.clock)
        self.sources: list[StatsSource] = []
        services.privacy.register("stats", self._export, self._erase)

    async def start(self) -> None:
        self.sources = [f for f in self.services.registry.features if isinstance(f, StatsSource)]
        await self.recorder.prune()

    def room_kind(self, message: IncomingMessage) -> str | None:
        if message.is_direct:
            return None
        name = self.services.rooms.name_of(message.room_id)
        if name is None:
            return None
        return "theme" if name.startswith("theme:") else name

    @listener(IncomingMessage)
    async def on_message(self, message: IncomingMessage) -> None:
        """Count a reply to another member as an interaction between two professions."""
        if message.sender == self.services.transport.own_user_id:
            return
        kind = self.room_kind(message)
        if kind is None:
            return
        profile = await self.profiles.get(message.sender)
        if profile is None or not profile.profession:
            return
        await self.recorder.record(
            message.event_id,
            message.sender,
            profile.profession,
            kind,
            message.reply_to or message.thread_root,
            self.services.clock.now(),
        )

    # -- the organisers' report ----------------------------------------------------------

    def _period(self, options: Options) -> tuple[date, date, datetime, datetime]:
        raw = options.first("periode", "period", "p")
        days = parse_period(raw)
        if days is None:
            raise UserError("stats.error.period", value=(raw or "")[:20])
        zone = ZoneInfo(self.services.config.community.timezone)
        now = self.services.clock.now()
        until = now.astimezone(zone).date()
        since = until - timedelta(days=days - 1)
        start = datetime.combine(since, time(0, 0), tzinfo=zone)
        return since, until, start, now

    def default_period(self) -> tuple[date, date]:
        """The days ``!stats`` reports without ``periode=``: the last 30, today included."""
        zone = ZoneInfo(self.services.config.community.timezone)
        until = self.services.clock.now().astimezone(zone).date()
        return until - timedelta(days=DEFAULT_DAYS - 1), until

    def _chosen_period(self, since: date, until: date) -> tuple[datetime, datetime]:
        """Start and end of a period chosen by dates (the web page): whole days in the
        community's zone, never past now; refused as ``!stats`` refuses a bad period."""
        zone = ZoneInfo(self.services.config.community.timezone)
        now = self.services.clock.now()
        today = now.astimezone(zone).date()
        if since > until:
            raise UserError("stats.error.dates_order")
        if since > today:
            raise UserError("stats.error.dates_future")
        if (until - since).days + 1 > MAX_DAYS:
            raise UserError("stats.error.dates_long", days=MAX_DAYS)
        start = datetime.combine(since, time(0, 0), tzinfo=zone)
        end = min(datetime.combine(until + timedelta(days=1), time(0, 0), tzinfo=zone), now)
        return start, end

    async def build_report(self, since: date, until: date, start: datetime, end: datetime) -> Report:
        report = Report(since=since, until=until)
        for source in self.sources:
            try:
                report.counts.extend(await source.stats_counts(start, end))
            except Exception:
                log.exception("stats source %s failed", type(source).__name__)
        report.matrix = await self.recorder.matrix(since, until)
        report.weekly = await self.recorder.weekly(since, until)
        return report

    def _label(self, language: str, key: str | None) -> str:
        if key is None:
            return ""
        found = self.services.professions.get(key)
        return found.label(language) if found else key

    def _metric(self, language: str, metric: str) -> str:
        key = f"stats.metric.{metric}"
        return self.services.catalogue.plain(language, key) if self.services.catalogue.has(key) else metric

    def tables(self, language: str, report: Report) -> list[StatsTable]:
        """Per metric its title and (label, shown value) rows: what the chat's report
        and the web page both show."""
        tables = []
        for metric, values in report.metrics().items():
            shown_values = {p: str(v) if metric in DERIVED else shown(v) for p, v in values.items()}
            total = shown_values.pop(None, None)
            rows = tuple((self._label(language, p), v) for p, v in sorted(shown_values.items()) if p)
            if rows or total is not None:
                tables.append(StatsTable(self._metric(language, metric), total, rows))
        return tables

    def pairs(self, language: str, report: Report) -> list[tuple[str, str, str]]:
        """Who answers whom: (profession, answered profession, shown count), most first."""
        return [
            (self._label(language, a), self._label(language, b), shown(n))
            for (a, b), n in sorted(report.matrix.items(), key=lambda kv: (-kv[1], kv[0]))
        ]

    @staticmethod
    def _lines(ctx: Context, table: StatsTable) -> list[tuple[str, str]]:
        """The chat's lines of one metric: the total first, then per profession."""
        total = [(ctx.text("stats.report.all"), table.total)] if table.total is not None else []
        return [*total, *table.rows]

    def render_report(self, ctx: Context, report: Report) -> Markup:
        blocks = [
            ctx.fragment(
                "stats.report.block",
                title=table.title,
                lines=Markup.join(
                    [
                        ctx.fragment("stats.report.line", label=name, value=n)
                        for name, n in self._lines(ctx, table)
                    ]
                ),
            )
            for table in self.tables(ctx.language, report)
        ]
        pairs = [
            ctx.fragment("stats.report.pair", source=a, target=b, value=n)
            for a, b, n in self.pairs(ctx.language, report)
        ]
        interactions = (
            ctx.fragment(
                "stats.report.interactions",
                lines=Markup.join(pairs),
                cross=shown(report.cross_total()),
                total=shown(report.all_total()),
            )
            if pairs
            else ctx.fragment("stats.report.no_interactions")
        )
        return ctx.fragment(
            "stats.report.body",
            since=format_date(report.since, ctx.language, "d MMMM y"),
            until=format_date(report.until, ctx.language, "d MMMM y"),
            blocks=Markup.join(blocks, "\n\n") if blocks else ctx.fragment("stats.report.no_counts"),
            interactions=interactions,
        )

    async def charts(self, language: str, report: Report) -> tuple[bytes, bytes]:
        """The two PNGs, rendered in a worker thread."""
        return await self.chart(language, report, "participation"), await self.chart(language, report, "heat")

    async def chart(self, language: str, report: Report, kind: ChartKind) -> bytes:
        """One PNG (participation per week, or the heat map), rendered in a worker thread."""
        # matplotlib costs about 40 MiB resident; only a moderator's report needs it,
        # so it is loaded on the first one instead of at every start.
        from commands.stats.charts import ChartTexts, heat_map, participation_chart

        catalogue = self.services.catalogue
        weeks = sorted({week for week, _ in report.weekly})
        professions = sorted({p for _, p in report.weekly})
        series = [
            (self._label(language, p), [report.weekly.get((w, p), 0) for w in weeks]) for p in professions
        ]
        periods = [w.strftime("%d-%m") for w in weeks]
        note = catalogue.plain(language, "stats.chart.note")
        bars = ChartTexts(
            catalogue.plain(language, "stats.chart.participation.title"),
            catalogue.plain(language, "stats.chart.participation.x"),
            catalogue.plain(language, "stats.chart.participation.y"),
            note,
        )
        labels_keys = report.professions()
        grid = [[report.matrix.get((a, b), 0) for b in labels_keys] for a in labels_keys]
        heat = ChartTexts(
            catalogue.plain(language, "stats.chart.heat.title"),
            catalogue.plain(language, "stats.chart.heat.x"),
            catalogue.plain(language, "stats.chart.heat.y"),
            note,
        )
        labels = [self._label(language, k) for k in labels_keys]
        if kind == "participation":
            return await asyncio.to_thread(participation_chart, periods, series, bars)
        return await asyncio.to_thread(heat_map, labels, grid, heat)

    # -- the organisers' web page (commands.organiser_web.page_sources.StatsReportSource) --

    async def stats_view(self, since: date, until: date, language: str) -> StatsView:
        start, end = self._chosen_period(since, until)
        report = await self.build_report(since, until, start, end)
        return StatsView(
            since,
            until,
            tuple(self.tables(language, report)),
            tuple(self.pairs(language, report)),
            shown(report.cross_total()),
            shown(report.all_total()),
        )

    async def stats_chart(self, since: date, until: date, language: str, kind: ChartKind) -> bytes:
        start, end = self._chosen_period(since, until)
        return await self.chart(language, await self.build_report(since, until, start, end), kind)

    @command("stats", aliases=["statistieken", "statistiek", "statistics"], english="stats")
    @check(moderator_only)
    async def stats(self, ctx: Context, options: Options) -> None:
        """Moderators: is cross-profession dialogue growing? A report with two charts, in a DM."""
        since, until, start, end = self._period(options)
        report = await self.build_report(since, until, start, end)
        if not ctx.is_direct:
            await ctx.reply("stats.sent_to_dm")
        await ctx.send_dm("stats.report.message", body=self.render_report(ctx, report))
        bars, heat = await self.charts(ctx.language, report)
        stamp = until.isoformat()
        await ctx.upload(bars, f"deelname-{stamp}.png", "image/png", to_dm=True)
        await ctx.upload(heat, f"interacties-{stamp}.png", "image/png", to_dm=True)

    @command("stats export", aliases=["statistieken export", "stats csv"], english="stats export")
    @check(moderator_only)
    async def export(self, ctx: Context, options: Options) -> None:
        """Moderators: the counts behind the report as a CSV file, in a DM."""
        since, until, start, end = self._period(options)
        report = await self.build_report(since, until, start, end)
        if not ctx.is_direct:
            await ctx.reply("stats.sent_to_dm")
        await ctx.upload(
            to_csv(report),
            f"kennisbrug-stats-{since.isoformat()}-{until.isoformat()}.csv",
            "text/csv",
            to_dm=True,
        )
        await ctx.send_dm("stats.exported", min_cell=3)

    async def _export(self, user_id: UserId) -> dict[str, int]:
        return await self.recorder.export_member(user_id)

    async def _erase(self, user_id: UserId) -> int:
        return await self.recorder.erase_member(user_id)
