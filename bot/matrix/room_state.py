"""Reading and setting a room's state events of one type (the command descriptions).

One ``GET /rooms/{id}/state`` per room gives both the events of the type and the power
levels, so deciding what to send in a room costs a single request; a room whose state
already matches costs nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from nio import AsyncClient, RoomPutStateResponse

from bot.errors import TransportError
from bot.ids import EventId, RoomId, UserId
from bot.matrix import events
from bot.matrix.client import api_call_checked
from bot.matrix.homeserver_calls import request
from bot.transport import RoomStateEvent, RoomStateOfType

#: What ``m.room.power_levels`` means when it leaves a field out (the spec's defaults).
_STATE_DEFAULT = 50
_USERS_DEFAULT = 0


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def may_send_state(state: Sequence[Mapping[str, Any]], user_id: str, event_type: str) -> bool:
    """Whether ``user_id`` may send state events of ``event_type``, judged from the room's
    current state (power levels, and the creators of a room version 12 or later)."""
    levels: Mapping[str, Any] | None = None
    for source in state:
        found = events.creators_of(source)
        if found is not None:
            version, creators = found
            if user_id in creators and events.creators_have_power(version):
                return True
        if source.get("type") == "m.room.power_levels" and source.get("state_key") == "":
            content = source.get("content")
            levels = content if isinstance(content, Mapping) else {}
    if levels is None:
        # Without a power levels event everyone may send state (the spec's default of 0).
        return True
    users = levels.get("users")
    own = users.get(user_id) if isinstance(users, Mapping) else None
    level = _int(own, _int(levels.get("users_default"), _USERS_DEFAULT))
    per_type = levels.get("events")
    needed = per_type.get(event_type) if isinstance(per_type, Mapping) else None
    return level >= _int(needed, _int(levels.get("state_default"), _STATE_DEFAULT))


def of_type(state: Sequence[Mapping[str, Any]], event_type: str) -> list[RoomStateEvent]:
    found = []
    for source in state:
        key, sender, content = source.get("state_key"), source.get("sender"), source.get("content")
        if source.get("type") != event_type or not isinstance(key, str) or not isinstance(sender, str):
            continue
        found.append(RoomStateEvent(key, UserId(sender), content if isinstance(content, Mapping) else {}))
    return found


class RoomState:
    """The transport's state reads and writes, with the adapter's retry policy."""

    def __init__(self, client: AsyncClient, own_user_id: UserId) -> None:
        self._client = client
        self._own = own_user_id

    async def read(self, room_id: RoomId, event_type: str) -> RoomStateOfType:
        # The whole state, read without nio: nio checks every event of the answer against
        # its JSON schema, which in a room of 5,000 members took about 1.5 s of CPU per
        # start for the twelve community rooms (py-spy, bench/scale.py), and only the
        # power levels, the creation event and one type of event are wanted here.
        state = await api_call_checked(
            self._client, "GET", ["rooms", room_id, "state"], f"reading the state of {room_id}"
        )
        if not isinstance(state, list):
            raise TransportError(f"reading the state of {room_id} gave no list of events")
        sources = [e for e in state if isinstance(e, dict)]
        return RoomStateOfType(of_type(sources, event_type), may_send_state(sources, self._own, event_type))

    async def publish(
        self, room_id: RoomId, event_type: str, state_key: str, content: Mapping[str, Any]
    ) -> EventId:
        resp = await request(
            partial(self._client.room_put_state, room_id, event_type, dict(content), state_key),
            f"setting {event_type} in {room_id}",
            # Publishing runs in the background; a homeserver's rate limit paces it
            # instead of failing it (the task is cancelled at shutdown).
            attempts=None,
        )
        if not isinstance(resp, RoomPutStateResponse):
            raise TransportError(f"setting {event_type} in {room_id} failed")
        return EventId(resp.event_id)
