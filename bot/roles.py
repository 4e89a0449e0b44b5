"""Who is an admin or a moderator.

Community-wide roles (``!stats``, the case queue, cancelling any event) come only from
the config's lists and from power levels **in the space**. Power in one community room
counts only for that room's own actions (:meth:`RoleService.is_room_moderator`): a
member made moderator of one theme room is not a moderator of the whole community.
"""

from __future__ import annotations

from bot.config import CommunityConfig
from bot.ids import RoomId, UserId
from bot.room_directory import RoomDirectory
from bot.transport import Transport


class RoleService:
    def __init__(self, community: CommunityConfig, transport: Transport, rooms: RoomDirectory) -> None:
        self._community = community
        self._transport = transport
        self._rooms = rooms

    async def _level_in(self, room_id: RoomId | None, user_id: UserId) -> int:
        if room_id is None or user_id == self._transport.own_user_id:
            return 0
        return await self._transport.power_level(room_id, user_id)

    async def is_admin(self, user_id: UserId) -> bool:
        """A community admin: named in the config, or with admin power in the space."""
        if user_id in self._community.admins:
            return True
        return await self._level_in(self._rooms.space_id, user_id) >= self._community.admin_power_level

    async def is_moderator(self, user_id: UserId) -> bool:
        """A community moderator (or admin): the config, or moderator power in the space."""
        if user_id in self._community.moderators or user_id in self._community.admins:
            return True
        return await self._level_in(self._rooms.space_id, user_id) >= self._community.moderator_power_level

    async def is_room_moderator(self, user_id: UserId, room_id: RoomId) -> bool:
        """May act on this one room: a community moderator, or moderator power in the room
        itself when it is a community room (a member's own DM or a room they created
        elsewhere gives nothing)."""
        if await self.is_moderator(user_id):
            return True
        if room_id not in self._rooms.community_rooms():
            return False
        return await self._level_in(room_id, user_id) >= self._community.moderator_power_level
