"""Logical room names (welcome, events, theme:<key>) and the room ids they resolved to.

The bot acts only in the rooms it knows: the configured community rooms, rooms that
features created (buddy pairs) and direct chats with members.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.ids import RoomId


@dataclass
class RoomDirectory:
    """Logical names to room ids, filled in by the transport at start-up."""

    by_name: dict[str, RoomId] = field(default_factory=dict)
    space_id: RoomId | None = None
    _extra: set[RoomId] = field(default_factory=set)

    def set(self, name: str, room_id: RoomId) -> None:
        self.by_name[name] = room_id

    def room_id(self, name: str) -> RoomId | None:
        return self.by_name.get(name)

    def name_of(self, room_id: RoomId) -> str | None:
        for name, rid in self.by_name.items():
            if rid == room_id:
                return name
        return None

    def theme_of(self, room_id: RoomId) -> str | None:
        name = self.name_of(room_id)
        return name.split(":", 1)[1] if name and name.startswith("theme:") else None

    def add_private(self, room_id: RoomId) -> None:
        """A room a feature created (a buddy pair's room) where the bot also acts."""
        self._extra.add(room_id)

    def is_known(self, room_id: RoomId) -> bool:
        return room_id in self.by_name.values() or room_id in self._extra or room_id == self.space_id

    def community_rooms(self) -> list[RoomId]:
        return list(dict.fromkeys(self.by_name.values()))
