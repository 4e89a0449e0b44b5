"""What the casus feature gives the digest (open cases that miss the member's
profession) and the organisers' counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.formatting import Markup
from commands.casus.parts import CasusParts
from commands.casus.store import RunRecord
from commands.digest.sources import DigestItem, DigestRequest, DigestSection
from commands.stats.sources import StatCount

DIGEST_ORDER = 25
"""After buddy requests and open questions, before new members."""


class CasusSources(CasusParts):
    async def digest_sections(self, requests: Sequence[DigestRequest]) -> Mapping[str, DigestSection]:
        """Open cases in the member's themes where their profession has not spoken yet."""
        wanted = [r for r in requests if r.profession and r.themes]
        if not wanted:
            return {}
        open_runs = await self.store.open_runs_heard()
        if not open_runs:
            return {}
        catalogue = self.services.catalogue
        lines: dict[tuple[str, int], Markup] = {}  # one line per case and language, shared

        def line(language: str, run: RunRecord) -> Markup:
            if (language, run.id) not in lines:
                case = self.state.case(run.case_id)
                lines[(language, run.id)] = catalogue.fragment(
                    language,
                    "casus.digest.line",
                    title=case.title_in(language) if case else run.case_id,
                    theme=self.text.theme_label(language, run.theme),
                    link=self.text.link(run.room_id, run.root_event_id),
                )
            return lines[(language, run.id)]

        sections: dict[str, DigestSection] = {}
        for request in wanted:
            profession = request.profession or ""
            found = [
                run for run, heard in open_runs if run.theme in request.themes and profession not in heard
            ]
            if not found:
                continue
            language = request.language
            sections[request.user_id] = DigestSection(
                DIGEST_ORDER,
                catalogue.fragment(
                    language, "casus.digest.title", profession=self.text.who(language, profession, 1)
                ),
                tuple(DigestItem(line(language, run), run.root_event_id) for run in found),
            )
        return sections

    async def stats_counts(self, since: datetime, until: datetime) -> list[StatCount]:
        """Replies per profession in the period; cases posted in it, and how many of them
        heard three or more professions."""
        per_profession, cases, wide = await self.store.stats(since, until)
        counts = [StatCount("casus_contributions", p, n) for p, n in sorted(per_profession.items())]
        counts.append(StatCount("casus_cases", None, cases))
        counts.append(StatCount("casus_cases_wide", None, wide))
        return counts
