"""What Introductions gives the digest (new listed members of the professions a member
wants to meet) and the stats report (members and introductions per profession).

A mixin of the :class:`~commands.introductions.feature.Introductions` feature: the
digest and the stats find their sources on the feature classes in the registry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.registry import Feature
from commands.digest.sources import ITEMS_SHOWN, DigestItem, DigestRequest, DigestSection
from commands.introductions.records import ProfileRecord
from commands.introductions.store import ProfileStore
from commands.stats.sources import StatCount


class IntroductionSources(Feature):
    """The digest's and the stats' source; ``store`` is set by ``Introductions.__init__``."""

    store: ProfileStore

    async def digest_sections(self, requests: Sequence[DigestRequest]) -> Mapping[str, DigestSection]:
        """New listed members of the professions a member wants to meet; without that
        choice, of other professions (with themes, those who share one of them)."""
        if not requests:
            return {}
        newcomers = await self.store.listed_since(min(r.since for r in requests))
        if not newcomers:
            return {}
        chosen = await self.store.meet_choices([r.user_id for r in requests])
        catalogue = self.services.catalogue
        sections: dict[str, DigestSection] = {}
        for request in requests:
            wanted = chosen.get(request.user_id)
            found = [
                p
                for created, p in newcomers
                if created >= request.since
                and p.user_id != request.user_id
                and _is_newcomer_for(request, wanted, p)
            ]
            if not found:
                continue
            items = tuple(
                DigestItem(
                    catalogue.fragment(
                        request.language,
                        "introductions.digest.line",
                        member=self.services.members.mention(request.language, p.user_id),
                        profession=self._digest_label(request.language, p.profession),
                    )
                )
                for p in found[:ITEMS_SHOWN]
            )
            title = "introductions.digest.title_chosen" if wanted else "introductions.digest.title"
            sections[request.user_id] = DigestSection(
                30,
                catalogue.fragment(request.language, title),
                items,
                more=max(len(found) - ITEMS_SHOWN, 0),
            )
        return sections

    def _digest_label(self, language: str, key: str) -> str:
        found = self.services.professions.get(key)
        return found.label(language) if found else key

    async def stats_counts(self, since: datetime, until: datetime) -> list[StatCount]:
        """Members (profiles) per profession and how many introduced themselves."""
        counts: list[StatCount] = []
        for profession, (total, cards) in sorted((await self.store.profession_counts()).items()):
            counts.append(StatCount("members", profession, total))
            counts.append(StatCount("introduced", profession, cards))
        return counts


def _is_newcomer_for(request: DigestRequest, wanted: tuple[str, ...] | None, newcomer: ProfileRecord) -> bool:
    """Whether a new member belongs in this member's digest. A chosen profession counts
    as asked for, themes or not (the member said whom they look for); without a choice,
    another profession that shares a theme (any, when the member has no themes)."""
    if wanted:
        return newcomer.profession in wanted
    return newcomer.profession != request.profession and (
        not request.themes or bool(set(newcomer.themes) & set(request.themes))
    )
