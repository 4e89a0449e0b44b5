"""Which rooms are the bot's direct chats with whom: in memory, in the database
(``core_direct_rooms``) and in the bot's ``m.direct`` account data.

``m.direct`` is what clients show; the table is what the bot trusts. An ``m.direct``
that could not be read is never written back: that would wipe every other member's
entry.
"""

from __future__ import annotations

import asyncio
import logging

from nio import AsyncClient
from sqlalchemy import select

from bot.clock import Clock
from bot.errors import TransportError
from bot.ids import RoomId, UserId
from bot.matrix.client import api_json_checked
from bot.storage.database import Database
from bot.storage.models import DirectRoom

log = logging.getLogger(__name__)


class DirectChatRecords:
    """The bot's record of its direct chats; ``room_id in records`` asks from memory."""

    def __init__(self, client: AsyncClient, db: Database, clock: Clock, own: UserId) -> None:
        self._client = client
        self._db = db
        self._clock = clock
        self._own = own
        self._members: dict[RoomId, UserId] = {}
        # m.direct is read, changed and written whole: one writer at a time.
        self._m_direct_lock = asyncio.Lock()

    def __contains__(self, room_id: object) -> bool:
        return room_id in self._members

    def member_of(self, room_id: RoomId) -> UserId | None:
        """The member whose direct chat ``room_id`` is (None: not a recorded DM)."""
        return self._members.get(room_id)

    def note(self, room_id: RoomId, user_id: UserId) -> None:
        """Remember a direct chat in memory only (one the bot just created)."""
        self._members[room_id] = user_id

    def forget_room(self, room_id: RoomId) -> None:
        """The bot left or was removed from ``room_id``."""
        self._members.pop(room_id, None)

    async def load(self) -> None:
        """Recorded DMs and the bot's ``m.direct`` account data, into memory."""
        async with self._db.session() as session:
            rows = (await session.execute(select(DirectRoom))).scalars().all()
        for row in rows:
            self._members[RoomId(row.room_id)] = UserId(row.user_id)
        for user_id, room_ids in ((await self.m_direct()) or {}).items():
            for room_id in room_ids:
                self._members.setdefault(RoomId(room_id), UserId(user_id))

    async def record(self, user_id: UserId, room_id: RoomId) -> None:
        """The member's DM is now ``room_id``: database, memory and ``m.direct``."""
        self._members[room_id] = user_id
        async with self._db.transaction() as session:
            row = await session.get(DirectRoom, user_id)
            if row is None:
                session.add(DirectRoom(user_id=user_id, room_id=room_id, created_at=self._clock.now()))
            else:
                row.room_id = room_id
                row.created_at = self._clock.now()
        async with self._m_direct_lock:
            current = await self.m_direct()
            if current is not None:
                current[user_id] = [r for r in current.get(user_id, []) if r != room_id] + [room_id]
                await self._put_m_direct(current)

    async def forget_member(self, user_id: UserId) -> list[RoomId]:
        """Drop the member's DMs from memory and from ``m.direct`` (the row is the core's);
        returns the rooms dropped from memory."""
        dropped = [room for room, member in self._members.items() if member == user_id]
        for room_id in dropped:
            del self._members[room_id]
        async with self._m_direct_lock:
            # An unreadable m.direct is not written back (that would wipe every other
            # member's entry).
            current = await self.m_direct()
            if current is not None and user_id in current:
                del current[user_id]
                await self._put_m_direct(current)
        return dropped

    async def m_direct(self) -> dict[str, list[str]] | None:
        """The bot's ``m.direct`` ({} when it has none); None when it could not be read,
        so no caller writes back a list that lost every other member's entry."""
        try:
            data = await api_json_checked(
                self._client,
                "GET",
                ["user", self._own, "account_data", "m.direct"],
                "reading m.direct",
                ok_statuses=(200, 404),
            )
        except TransportError as exc:
            log.warning("could not read m.direct: %s", exc)
            return None
        return {
            user: [r for r in rooms if isinstance(r, str)]
            for user, rooms in data.items()
            if isinstance(user, str) and user.startswith("@") and isinstance(rooms, list)
        }

    async def _put_m_direct(self, current: dict[str, list[str]]) -> None:
        """Write the bot's ``m.direct``; a failure is logged, the DM works without it."""
        try:
            await api_json_checked(
                self._client,
                "PUT",
                ["user", self._own, "account_data", "m.direct"],
                "updating m.direct",
                current,
            )
        except TransportError as exc:
            log.warning("could not update m.direct: %s", exc)
