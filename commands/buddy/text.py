"""How buddies are shown: mentions, room links and the summary of who asks."""

from __future__ import annotations

from bot.formatting import Markup
from bot.ids import RoomId
from commands.buddy.state import BuddyState
from commands.introductions.records import ProfileRecord
from commands.introductions.vocabulary import EXPERIENCE, REGIONS


def nothing() -> Markup:
    """An empty fragment, where an optional line is left out."""
    return Markup("", "")


class BuddyText:
    def __init__(self, state: BuddyState) -> None:
        self._state = state
        self._catalogue = state.services.catalogue

    def mention(self, language: str, user_id: str) -> Markup:
        return self._state.services.members.mention(language, user_id)

    def room_link(self, room_id: str) -> str:
        return self._state.services.transport.permalink(RoomId(room_id))

    def profession(self, language: str, key: str | None) -> str:
        found = self._state.services.professions.get(key) if key else None
        return found.label(language) if found else (key or "")

    def summary(self, language: str, profile: ProfileRecord | None, user_id: str) -> Markup:
        """Who asks: profession, experience, region and themes, from their profile."""
        if profile is None:
            return self.mention(language, user_id)
        catalogue = self._catalogue
        details = [
            EXPERIENCE.label(catalogue, language, profile.experience) if profile.experience else "",
            REGIONS.label(catalogue, language, profile.region) if profile.region else "",
        ]
        themes = ", ".join(self._state.themes.get(t, {}).get(language) or t for t in profile.themes)
        return catalogue.fragment(
            language,
            "buddy.summary",
            member=self.mention(language, user_id),
            profession=self.profession(language, profile.profession),
            details="".join(f" · {d}" for d in details if d),
            themes=catalogue.fragment(language, "buddy.summary_themes", themes=themes)
            if themes
            else nothing(),
        )

    def offer_topic(self, language: str, topic: str | None) -> Markup:
        """The requester's topic line in an offer, or nothing."""
        if not topic:
            return nothing()
        return self._catalogue.fragment(language, "buddy.offer.topic", topic=topic)
