"""How the casus feature words things: professions, the perspective meter, a step's
questions, the footer under a post, the root post and the closing summary."""

from __future__ import annotations

from datetime import timedelta

from bot.formatting import Markup, Rendered
from bot.ids import EventId, RoomId
from bot.services import Services
from commands.casus.library import STEPS, Case
from commands.casus.rotation import Meter
from commands.casus.settings import CasusSettings


class CasusText:
    def __init__(self, services: Services, settings: CasusSettings) -> None:
        self.services = services
        self.settings = settings

    def link(self, room_id: str, event_id: str | None) -> str:
        """A link to a case's thread (its root post)."""
        return self.services.transport.permalink(RoomId(room_id), EventId(event_id) if event_id else None)

    def who(self, language: str, profession: str, count: int) -> str:
        """ "arbeidsdeskundigen", "jobcoach": the profession's name for ``count`` members."""
        catalogue = self.services.catalogue
        form = "one" if count == 1 else "other"
        key = f"casus.who.{profession}.{form}"
        if catalogue.has(key):
            return catalogue.plain(language, key)
        found = self.services.professions.get(profession)
        return found.label(language) if found else profession

    def theme_label(self, language: str, theme: str) -> str:
        found = next((t for t in self.services.config.themes if t.key == theme), None)
        return found.label(language) if found else theme

    def mention(self, language: str, user: str) -> Markup:
        """A member's name as a link; it pings nobody (messages are sent without mentions)."""
        return self.services.members.mention(language, user)

    # -- the meter -----------------------------------------------------------------------

    def meter_text(self, language: str, meter: Meter) -> str:
        catalogue = self.services.catalogue
        heard = ", ".join(f"{members} {self.who(language, p, members)}" for p, members, _ in meter.heard)
        missing = ", ".join(self.who(language, p, 1) for p in meter.missing)
        first = (
            catalogue.plain(language, "casus.meter.heard", list=heard)
            if heard
            else catalogue.plain(language, "casus.meter.nobody")
        )
        second = (
            catalogue.plain(language, "casus.meter.missing", list=missing)
            if missing
            else catalogue.plain(language, "casus.meter.complete")
        )
        return f"{first} · {second}"

    # -- posts in a case's thread --------------------------------------------------------

    def root(self, language: str, case: Case, meter: Meter, submitter: str | None) -> Rendered:
        """The case itself, with its first step; ``submitter`` is credited by name."""
        catalogue = self.services.catalogue
        credit = Markup("", "")
        if submitter:
            credit = catalogue.fragment(
                language, "casus.post.submitted_by", member=self.mention(language, submitter)
            )
        return catalogue.render(
            language,
            "casus.post.root",
            title=case.title_in(language),
            theme=self.theme_label(language, case.theme),
            text=case.text_in(language),
            credit=credit,
            step=self.step_block(language, case, 1),
            footer=self.footer(language, 1, meter),
        )

    def step(self, language: str, case: Case, step: int, meter: Meter) -> Rendered:
        return self.services.catalogue.render(
            language,
            "casus.post.step",
            step=self.step_block(language, case, step),
            footer=self.footer(language, step, meter),
        )

    def step_block(self, language: str, case: Case, step: int) -> Markup:
        catalogue = self.services.catalogue
        questions = Markup.join(
            [
                catalogue.fragment(language, "casus.post.question", question=q)
                for q in case.questions(step, language)
            ]
        )
        return catalogue.fragment(
            language,
            "casus.post.step_block",
            number=step,
            name=catalogue.plain(language, f"casus.step.{STEPS[step - 1]}"),
            questions=questions,
        )

    def footer(self, language: str, step: int, meter: Meter) -> Markup:
        """When the next step comes (or the close), and the meter."""
        catalogue = self.services.catalogue
        if step < len(STEPS):
            offsets = (timedelta(0), *self.settings.step_offsets)
            days = round((offsets[step] - offsets[step - 1]).total_seconds() / 86400, 1)
            next_step = catalogue.fragment(
                language,
                "casus.post.next_step",
                days=f"{days:g}",
                number=step + 1,
                name=catalogue.plain(language, f"casus.step.{STEPS[step]}"),
            )
        else:
            days = round(self.settings.close_days - self.settings.step_days[1], 1)
            next_step = catalogue.fragment(language, "casus.post.closes", days=f"{days:g}")
        return catalogue.fragment(
            language, "casus.post.footer", next=next_step, meter=self.meter_text(language, meter)
        )

    # -- the summary ---------------------------------------------------------------------

    def summary(
        self, language: str, title: str, meter: Meter, contributions: list[tuple[str, str]]
    ) -> Rendered:
        """Who was heard, per profession; who is still missing; thanks by name."""
        catalogue = self.services.catalogue
        lines = [
            catalogue.fragment(
                language,
                "casus.summary.line",
                who=self.who(language, profession, members),
                members=members,
                messages=messages,
            )
            for profession, members, messages in meter.heard
        ]
        return catalogue.render(
            language,
            "casus.summary.post",
            title=title,
            members=meter.members,
            messages=len(contributions),
            lines=Markup.join(lines),
            missing=self._still_missing(language, meter),
            thanks=self._thanks(language, [user for user, _ in contributions]),
        )

    def _still_missing(self, language: str, meter: Meter) -> Markup:
        catalogue = self.services.catalogue
        if not meter.missing:
            return catalogue.fragment(language, "casus.summary.all_heard")
        names = ", ".join(self.who(language, p, 1) for p in meter.missing)
        return catalogue.fragment(language, "casus.summary.missing", list=names)

    def _thanks(self, language: str, users: list[str]) -> Markup:
        catalogue = self.services.catalogue
        contributors = list(dict.fromkeys(users))
        if not contributors:
            return catalogue.fragment(language, "casus.summary.no_one")
        names = Markup.join([self.mention(language, u) for u in contributors], ", ")
        return catalogue.fragment(language, "casus.summary.thanks", names=names)
