"""How a profile looks: the introduction card, the profile view, a directory row.

Everything is built from catalogue fragments; member texts go in as values, so they
are escaped and cannot ping a room.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from bot.content import Professions
from bot.formatting import Markup
from bot.i18n import Catalogue
from commands.introductions.records import ProfileRecord
from commands.introductions.vocabulary import DAYS, EXPERIENCE, GOALS, REGIONS, SETTINGS, Vocabulary


class CardRenderer:
    """Renders profiles in one language for one community's professions and themes."""

    def __init__(
        self,
        catalogue: Catalogue,
        professions: Professions,
        theme_labels: dict[str, dict[str, str]],
        mention: Callable[[str, str], Markup],
    ):
        self._catalogue = catalogue
        self._professions = professions
        self._theme_labels = theme_labels
        self._mention = mention  # the core's: a name linked as the transport links members

    def _f(self, language: str, key: str, **params: object) -> Markup:
        return self._catalogue.fragment(language, key, **params)

    def profession(self, language: str, key: str) -> str:
        found = self._professions.get(key)
        return found.label(language) if found else key

    def professions(self, language: str, keys: Iterable[str]) -> str:
        return ", ".join(self.profession(language, key) for key in keys)

    def badge(self, key: str) -> str:
        found = self._professions.get(key)
        return found.badge if found else "•"

    def label(self, vocabulary: Vocabulary, language: str, key: str | None) -> str:
        return vocabulary.label(self._catalogue, language, key) if key else ""

    def labels(self, vocabulary: Vocabulary, language: str, keys: Iterable[str]) -> str:
        return ", ".join(vocabulary.label(self._catalogue, language, k) for k in keys)

    def themes(self, language: str, keys: Iterable[str]) -> str:
        return ", ".join(self._theme_labels.get(k, {}).get(language) or k for k in keys)

    def mention(self, language: str, user_id: str) -> Markup:
        return self._mention(language, user_id)

    def experience(self, language: str, record: ProfileRecord) -> str:
        text = self.label(EXPERIENCE, language, record.experience)
        if record.years is not None:
            years = self._catalogue.plain(language, "introductions.years_value", years=record.years)
            text = f"{text} ({years})" if text else years
        return text

    def _lines(self, language: str, record: ProfileRecord, *, private: bool) -> list[Markup]:
        """The field lines shared by the card and the profile view; empty fields left out."""
        rows: list[tuple[str, str]] = [
            ("introductions.field.region", self.label(REGIONS, language, record.region)),
            ("introductions.field.experience", self.experience(language, record)),
            ("introductions.field.setting", self.label(SETTINGS, language, record.setting)),
            ("introductions.field.work_days", self.labels(DAYS, language, record.work_days)),
            ("introductions.field.meet_days", self.labels(DAYS, language, record.meet_days)),
            ("introductions.field.goals", self.labels(GOALS, language, record.goals)),
            ("introductions.field.themes", self.themes(language, record.themes)),
            ("introductions.field.meet_professions", self.professions(language, record.meet_professions)),
        ]
        lines = [
            self._f(
                language, "introductions.card.line", label=self._catalogue.plain(language, key), value=value
            )
            for key, value in rows
            if value
        ]
        if private:
            yes_no = {True: "introductions.answer.yes", False: "introductions.answer.no"}
            for key, flag in (
                ("introductions.field.listed", record.listed),
                ("introductions.field.spotlight", record.spotlight),
            ):
                lines.append(
                    self._f(
                        language,
                        "introductions.card.line",
                        label=self._catalogue.plain(language, key),
                        value=self._catalogue.plain(language, yes_no[flag]),
                    )
                )
        return lines

    def card(self, language: str, record: ProfileRecord) -> Markup:
        """The introduction posted in the welcome room."""
        return self._f(
            language,
            "introductions.card.introduction",
            badge=self.badge(record.profession),
            member=self.mention(language, record.user_id),
            profession=self.profession(language, record.profession),
            lines=Markup.join(self._lines(language, record, private=False)),
            about=self._quote(language, "introductions.card.about", record.about),
        )

    def profile(self, language: str, record: ProfileRecord, *, own: bool) -> Markup:
        """The full profile, for the member themselves or (when listed) for others."""
        return self._f(
            language,
            "introductions.card.profile_own" if own else "introductions.card.profile",
            badge=self.badge(record.profession),
            member=self.mention(language, record.user_id),
            profession=self.profession(language, record.profession),
            lines=Markup.join(self._lines(language, record, private=own)),
            about=self._quote(language, "introductions.card.about", record.about),
            weighing=self._quote(language, "introductions.card.weighing", record.weighing),
        )

    def row(self, language: str, number: int, record: ProfileRecord) -> Markup:
        """One line of search results."""
        details = [
            self.label(REGIONS, language, record.region),
            self.experience(language, record),
        ]
        return self._f(
            language,
            "introductions.find.row",
            number=number,
            badge=self.badge(record.profession),
            member=self.mention(language, record.user_id),
            profession=self.profession(language, record.profession),
            details=" · ".join(d for d in details if d),
        )

    def describe(self, record: ProfileRecord) -> str:
        """The searchable text of a profile: labels in every language, and its own texts."""
        parts: list[str] = [record.user_id]
        for language in self._catalogue.languages():
            parts.append(self.profession(language, record.profession))
            parts.append(self.label(REGIONS, language, record.region))
            parts.append(self.label(SETTINGS, language, record.setting))
            parts.append(self.themes(language, record.themes))
        parts += [record.about or "", record.weighing or ""]
        return "\n".join(p for p in parts if p)

    def _quote(self, language: str, key: str, text: str | None) -> Markup:
        if not text:
            return Markup("", "")
        return self._f(language, key, text=text)
