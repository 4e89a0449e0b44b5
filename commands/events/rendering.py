"""How an event reads: the card, its when/where/until texts and its calendar file.

Pure presentation: nothing here sends or stores anything."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.formatting import Markup
from bot.i18n import format_date, format_time
from bot.services import Services
from commands.events import calendar
from commands.events.records import EventRecord
from commands.events.store import CANCELLED, GOING, WAITING

SERIES_STEPS = ("beeldvorming", "oordeelsvorming", "besluitvorming")


class Rendering:
    def __init__(self, services: Services, timezone: str) -> None:
        self.services = services
        self.timezone = timezone

    # -- short texts -----------------------------------------------------------------

    def when(self, event: EventRecord, language: str) -> str:
        start = event.starts_at.astimezone(ZoneInfo(self.timezone))
        return self.services.catalogue.plain(
            language,
            "events.card.when_value",
            day=format_date(start.date(), language),
            start=format_time(event.starts_at, language, self.timezone),
            end=format_time(event.ends_at, language, self.timezone),
        )

    def until(self, event: EventRecord, language: str) -> str:
        now = self.services.clock.now()
        hours = max(int((event.starts_at - now).total_seconds() // 3600), 0)
        if hours >= 48:
            return self.services.catalogue.plain(language, "events.until.days", days=round(hours / 24))
        if hours >= 1:
            return self.services.catalogue.plain(language, "events.until.hours", hours=hours)
        return self.services.catalogue.plain(language, "events.until.soon")

    def where(self, event: EventRecord, language: str) -> str:
        parts = [p for p in (event.place, event.link) if p]
        return " · ".join(parts) if parts else self.services.catalogue.plain(language, "events.card.tbd")

    def audience(self, event: EventRecord, language: str) -> str:
        if not event.audience:
            return self.services.catalogue.plain(language, "events.card.everyone")
        return ", ".join(self.profession_label(key, language) for key in event.audience)

    def profession_label(self, key: str, language: str) -> str:
        found = self.services.professions.get(key)
        return found.label(language) if found is not None else key

    def theme(self, event: EventRecord, language: str) -> str | None:
        for theme in self.services.config.themes:
            if theme.key == event.theme:
                return theme.label(language)
        return None

    # -- the card --------------------------------------------------------------------

    def card(self, event: EventRecord, language: str, counts: dict[str, int]) -> Markup:
        """The announcement: what, when, where, programme, points, lunch, places, who for."""
        c = self.services.catalogue
        cancelled = event.status == CANCELLED
        header = "events.card.cancelled" if cancelled else "events.card.title"
        how = (
            c.fragment(language, "events.card.how_cancelled")
            if cancelled
            else c.fragment(language, "events.card.how", id=event.id)
        )
        return c.fragment(
            language,
            "events.card.layout",
            header=c.fragment(language, header, title=event.title, id=event.id),
            lines=Markup.join(self._card_lines(event, language, counts)),
            how=how,
        )

    def _card_lines(self, event: EventRecord, language: str, counts: dict[str, int]) -> list[Markup]:
        c = self.services.catalogue
        lines: list[Markup] = []
        if event.series_id and event.series_part:
            lines.append(self._series_line(event, language))
        lines.append(c.fragment(language, "events.card.when", when=self.when(event, language)))
        form = c.plain(language, f"events.form.{event.form}")
        lines.append(c.fragment(language, "events.card.where", form=form, where=self.where(event, language)))
        theme = self.theme(event, language)
        if theme:
            lines.append(c.fragment(language, "events.card.theme", theme=theme))
        if event.programme:
            lines.append(c.fragment(language, "events.card.programme", programme=event.programme))
        if event.accreditation:
            lines.append(c.fragment(language, "events.card.accreditation", accreditation=event.accreditation))
        if event.lunch is not None:
            lines.append(
                c.fragment(language, "events.card.lunch_yes" if event.lunch else "events.card.lunch_no")
            )
        lines.append(c.fragment(language, "events.card.audience", audience=self.audience(event, language)))
        lines.append(self.places(event, language, counts))
        return lines

    def _series_line(self, event: EventRecord, language: str) -> Markup:
        c = self.services.catalogue
        step = ""
        if event.series_size == 3 and event.series_part:
            step = c.plain(language, f"events.series.step.{SERIES_STEPS[event.series_part - 1]}")
        return c.fragment(
            language, "events.card.series", part=event.series_part, size=event.series_size, step=step
        )

    def places(self, event: EventRecord, language: str, counts: dict[str, int]) -> Markup:
        c = self.services.catalogue
        going, waiting = counts.get(GOING, 0), counts.get(WAITING, 0)
        if event.capacity is None:
            return c.fragment(language, "events.card.places_open", going=going)
        left = max(event.capacity - going, 0)
        if left:
            return c.fragment(language, "events.card.places_left", left=left, capacity=event.capacity)
        return c.fragment(language, "events.card.places_full", capacity=event.capacity, waiting=waiting)

    # -- the calendar file -----------------------------------------------------------

    def ics(self, event: EventRecord, language: str) -> bytes:
        description = self.services.catalogue.plain(
            language,
            "events.ics.description",
            programme=event.programme or "",
            accreditation=event.accreditation or "-",
            id=event.id,
        )
        return calendar.build_ics(event, self.timezone, description, self.services.config.community.name)
