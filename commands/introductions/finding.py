"""The member directory's commands: ``!zoek`` (filters, free words, pages, and which
filter to drop when nothing is found) and ``!leden`` (counts per profession and region).

A mixin of the :class:`~commands.introductions.feature.Introductions` feature, so the
commands stay decorated methods the registry finds; the index itself is
:class:`~commands.introductions.directory.DirectoryIndex`."""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.context import Context
from bot.converters import Options, tokenize
from bot.errors import UserError
from bot.formatting import Markup
from bot.i18n import Localised
from bot.registry import Feature, command
from bot.textnorm import is_number
from commands.introductions.cards import CardRenderer
from commands.introductions.directory import DirectoryIndex, DirectoryQuery
from commands.introductions.fields import FieldParser
from commands.introductions.settings import IntroductionSettings
from commands.introductions.vocabulary import DAYS, EXPERIENCE, GOALS, REGIONS

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


class DirectoryCommands(Feature):
    """The directory's commands; the attributes are set by ``Introductions.__init__``."""

    settings: IntroductionSettings
    parser: FieldParser
    cards: CardRenderer
    directory: DirectoryIndex

    def _learn_find_options(self) -> None:
        """The option names members may type, in every language."""
        catalogue = self.services.catalogue
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


def _without(query: DirectoryQuery, name: str) -> DirectoryQuery:
    """The same query with one filter dropped."""
    if name == "words":
        return dataclasses.replace(query, words=())
    empty: dict[str, Any] = {name: frozenset()}
    return dataclasses.replace(query, **empty)
