"""Who is an admin or a moderator: the config's lists, or power levels in the community.

A member with the configured power level in the space or in the community room where
they speak counts too, so moderators appointed in the client need no config change.
"""

from __future__ import annotations

from bot.config import CommunityConfig
from bot.ids import RoomId, UserId
from bot.rooms import RoomDirectory
from bot.transport import Transport


class RoleService:
    def __init__(self, community: CommunityConfig, transport: Transport, rooms: RoomDirectory) -> None:
        self._community = community
        self._transport = transport
        self._rooms = rooms

    async def _highest_level(self, user_id: UserId, room_id: RoomId | None) -> int:
        if user_id == self._transport.own_user_id:
            return 0
        places: list[RoomId] = []
        if self._rooms.space_id:
            places.append(self._rooms.space_id)
        # Only community rooms count: a member's own DM or a room they created
        # would otherwise make them an admin.
        if room_id and room_id in self._rooms.community_rooms():
            places.append(room_id)
        levels = [await self._transport.power_level(place, user_id) for place in places]
        return max(levels, default=0)

    async def is_admin(self, user_id: UserId, room_id: RoomId | None = None) -> bool:
        if user_id in self._community.admins:
            return True
        return await self._highest_level(user_id, room_id) >= self._community.admin_power_level

    async def is_moderator(self, user_id: UserId, room_id: RoomId | None = None) -> bool:
        if user_id in self._community.moderators or user_id in self._community.admins:
            return True
        return await self._highest_level(user_id, room_id) >= self._community.moderator_power_level
