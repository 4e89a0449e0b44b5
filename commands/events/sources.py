"""What Events gives the digest (upcoming events a member has not answered) and the
stats report (sign-ups and attendance per profession)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.formatting import Markup
from bot.services import Services
from commands.digest.sources import ITEMS_SHOWN, DigestItem, DigestRequest, DigestSection
from commands.events.records import EventRecord
from commands.events.rendering import Rendering
from commands.events.store import EventStore
from commands.introductions.store import ProfileStore
from commands.stats.sources import StatCount

DIGEST_ORDER = 40
"""Last in the digest: upcoming events."""


def _meant_for(event: EventRecord, request: DigestRequest, answered: set[tuple[int, str]]) -> bool:
    """Upcoming, not answered, not the member's own, for their profession (or everyone)."""
    return (
        event.starts_at > request.now
        and (event.id, request.user_id) not in answered
        and event.organiser != request.user_id
        and (not event.audience or (request.profession or "") in event.audience)
    )


class Sources:
    def __init__(
        self, services: Services, store: EventStore, profiles: ProfileStore, rendering: Rendering
    ) -> None:
        self.services = services
        self.store = store
        self.profiles = profiles
        self.rendering = rendering

    async def digest_sections(self, requests: Sequence[DigestRequest]) -> Mapping[str, DigestSection]:
        """Upcoming events the member has not answered yet, meant for their profession
        (or for everyone)."""
        if not requests:
            return {}
        events, answered = await self.store.unanswered(
            [r.user_id for r in requests], min(r.now for r in requests)
        )
        if not events:
            return {}
        catalogue = self.services.catalogue
        lines: dict[tuple[str, int], Markup] = {}  # one line per event and language, shared

        def line(language: str, event: EventRecord) -> Markup:
            if (language, event.id) not in lines:
                lines[(language, event.id)] = catalogue.fragment(
                    language,
                    "events.digest.line",
                    id=event.id,
                    title=event.title,
                    when=self.rendering.when(event, language),
                )
            return lines[(language, event.id)]

        sections: dict[str, DigestSection] = {}
        for request in requests:
            found = [e for e in events if _meant_for(e, request, answered)]
            if not found:
                continue
            language = request.language
            sections[request.user_id] = DigestSection(
                DIGEST_ORDER,
                catalogue.fragment(language, "events.digest.title"),
                tuple(DigestItem(line(language, e)) for e in found[:ITEMS_SHOWN]),
                more=max(len(found) - ITEMS_SHOWN, 0),
            )
        return sections

    async def stats_counts(self, since: datetime, until: datetime) -> list[StatCount]:
        """Sign-ups and attendance per profession in the period (members without a
        profile count for no profession)."""
        signups, attended = await self.store.participation(since, until)
        professions = await self.profiles.professions_and_themes(sorted(set(signups) | set(attended)))
        counts: list[StatCount] = []
        for metric, users in (("events_signups", signups), ("events_attended", attended)):
            per_profession = Counter(
                professions[u][0] for u in users if u in professions and professions[u][0]
            )
            counts.extend(StatCount(metric, p, n) for p, n in sorted(per_profession.items()))
        return counts
