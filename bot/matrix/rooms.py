"""Rooms: the community space and its rooms, creating and joining rooms, power levels.

Room version 12 (Synapse's default since 1.163) changes two things handled here:
room ids carry no server name (never parse one out of a room id), and room creators
have unlimited power and must *not* appear in the power-levels ``users`` map (Synapse
rejects the room otherwise). On older versions the creator must appear there, so
the default room version is asked from the homeserver once.

The bot's direct chats with members (finding, opening, invites) are
:class:`~bot.matrix.direct_chat_rooms.DirectChats`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from nio import (
    AsyncClient,
    JoinedMembersResponse,
    JoinedRoomsResponse,
    JoinResponse,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomGetStateResponse,
    RoomPreset,
    RoomResolveAliasResponse,
    RoomVisibility,
)

from bot.config import Config
from bot.errors import TransportError
from bot.ids import RoomId, UserId
from bot.matrix import events
from bot.matrix.client import api_json_checked
from bot.matrix.homeserver_calls import TRANSIENT_EXCEPTIONS, describe, request
from bot.room_directory import RoomDirectory
from bot.transport import RoomSpec

log = logging.getLogger(__name__)

#: What :meth:`RoomManager.power_level` reports for a room creator in room version 12+,
#: where creators outrank every power level (the largest integer JSON allows).
CREATOR_POWER_LEVEL = 2**53 - 1

MEGOLM = "m.megolm.v1.aes-sha2"
#: The state event that switches a room's encryption on (it cannot be switched off).
ENCRYPTION_STATE = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}
_NOT_FOUND = ("M_NOT_FOUND",)
_CAPABILITY_ERRORS: tuple[type[BaseException], ...] = (TransportError, *TRANSIENT_EXCEPTIONS)


class RoomManager:
    """Which rooms exist, which the bot is in and who may do what there (direct chats
    with members are :class:`~bot.matrix.direct_chat_rooms.DirectChats`)."""

    def __init__(self, client: AsyncClient, config: Config, directory: RoomDirectory) -> None:
        self._client = client
        self._config = config
        self._directory = directory
        self._own = UserId(config.matrix.user_id)
        self._server = config.matrix.server_name
        self._creators: dict[RoomId, tuple[str, frozenset[str]]] = {}
        self._power_levels_seen: set[RoomId] = set()
        self._default_creator_power: bool | None = None
        # Power levels read from the homeserver for rooms whose state the sync did not
        # carry (after a restart's incremental sync: the space, quiet rooms), kept until
        # the sync shows a new power-levels event; every !help checks the space's.
        self._levels_read: dict[RoomId, Mapping[str, Any]] = {}

    # ------------------------------------------------------------------ knowledge

    def note_room_events(self, room_id: RoomId, sources: Sequence[Mapping[str, Any]]) -> None:
        """Remember creators and that nio has power levels cached, from synced state/timeline."""
        self._note_creators(room_id, sources)
        if any(source.get("type") == "m.room.power_levels" for source in sources):
            self._power_levels_seen.add(room_id)
            self._levels_read.pop(room_id, None)

    def _note_creators(self, room_id: RoomId, sources: Sequence[Mapping[str, Any]]) -> None:
        for source in sources:
            found = events.creators_of(source)
            if found is not None:
                self._creators[room_id] = found

    def forget(self, room_id: RoomId) -> None:
        """The bot left or was removed from ``room_id``."""
        self._power_levels_seen.discard(room_id)
        self._levels_read.pop(room_id, None)

    async def power_level(self, room_id: RoomId, user_id: UserId) -> int:
        """The user's power level; nio's state cache when it has the room, else the homeserver."""
        room = self._client.rooms.get(room_id)
        cached = room is not None and room_id in self._power_levels_seen and room_id in self._creators
        levels: Mapping[str, Any] = self._levels_read.get(room_id, {})
        if not cached and room_id not in self._levels_read:
            resp = await request(
                lambda: self._client.room_get_state(room_id), f"reading the state of {room_id}"
            )
            if not isinstance(resp, RoomGetStateResponse):
                raise TransportError(f"reading the state of {room_id} failed")
            state_events = [e for e in resp.events if isinstance(e, dict)]
            self._note_creators(room_id, state_events)
            for source in state_events:
                if source.get("type") == "m.room.power_levels" and source.get("state_key") == "":
                    content = source.get("content")
                    levels = content if isinstance(content, Mapping) else {}
            self._levels_read[room_id] = levels
        version, creators = self._creators.get(room_id, ("1", frozenset()))
        if user_id in creators and events.creators_have_power(version):
            return CREATOR_POWER_LEVEL
        if cached and room is not None:
            return int(room.power_levels.get_user_level(user_id))
        users = levels.get("users")
        level = users.get(user_id) if isinstance(users, Mapping) else None
        if level is None:
            level = levels.get("users_default", 0)
        return level if isinstance(level, int) and not isinstance(level, bool) else 0

    async def room_members(self, room_id: RoomId) -> list[UserId]:
        resp = await request(lambda: self._client.joined_members(room_id), f"listing members of {room_id}")
        if not isinstance(resp, JoinedMembersResponse):
            raise TransportError(f"listing members of {room_id} failed")
        return [UserId(member.user_id) for member in resp.members]

    async def link_to_space(self, space_id: RoomId, room_id: RoomId) -> None:
        """``m.space.child`` in the space and ``m.space.parent`` in the room, if missing."""
        via = {"via": [self._server]}
        links = (
            (space_id, "m.space.child", room_id, {**via, "suggested": True}),
            (room_id, "m.space.parent", space_id, {**via, "canonical": True}),
        )
        for target, event_type, state_key, content in links:
            current = await request(
                partial(self._client.room_get_state_event, target, event_type, state_key),
                f"reading {event_type} in {target}",
                ok_errcodes=_NOT_FOUND,
            )
            if isinstance(current, RoomGetStateEventResponse) and current.content.get("via"):
                continue
            try:
                await request(
                    partial(self._client.room_put_state, target, event_type, content, state_key),
                    f"setting {event_type} in {target}",
                )
            except TransportError as exc:
                log.warning("could not link %s to the space: %s", room_id, exc)

    # ------------------------------------------------------------- creating rooms

    def encrypt_new_room(self, spec: RoomSpec | None) -> bool:
        """Whether a room the bot creates is encrypted: when the spec asks for it, and for
        private matters (direct chats, ``private`` rooms) when ``matrix.encrypt_private_rooms``."""
        m = self._config.matrix
        if spec is not None and spec.encrypted:
            if not m.encryption:
                raise TransportError("an encrypted room was asked for, but matrix.encryption is off")
            return True
        private = spec is None or spec.is_direct or spec.private
        return m.encryption and m.encrypt_private_rooms and private

    async def create_room(self, spec: RoomSpec) -> RoomId:
        encrypted = self.encrypt_new_room(spec)
        users = {user: level for user, level in spec.power_users.items() if user != self._own}
        override = {"users": await self.with_creator(users)} if users else None
        space_id = self._directory.space_id
        in_space = space_id is not None and not spec.is_direct
        initial_state: list[dict[str, Any]] = []
        if in_space:
            initial_state.append(
                {"type": "m.space.parent", "state_key": space_id, "content": {"via": [self._server]}}
            )
        if encrypted:
            initial_state.append(ENCRYPTION_STATE)
        resp = await request(
            lambda: self._client.room_create(
                visibility=RoomVisibility.private,
                alias=spec.alias_localpart,
                name=spec.name,
                topic=spec.topic or None,
                preset=RoomPreset.private_chat,
                is_direct=spec.is_direct,
                invite=[user for user in spec.invite if user != self._own],
                initial_state=initial_state,
                power_level_override=override,
            ),
            f"creating room {spec.alias_localpart or '(no alias)'}",
            ok_errcodes=("M_ROOM_IN_USE",),
        )
        if isinstance(resp, RoomCreateResponse):
            room_id = RoomId(resp.room_id)
        else:
            # The alias exists already: a retry after a lost answer finds the bot's own
            # room; anyone else's room under that alias is never taken over.
            alias = f"#{spec.alias_localpart}:{self._server}"
            room_id = await self._own_room_under(alias)
        if in_space and space_id is not None:
            await self.link_to_space(space_id, room_id)
        if not spec.is_direct:
            self._directory.add_private(room_id)
        return room_id

    async def _own_room_under(self, alias: str) -> RoomId:
        room_id = await self.resolve_alias(alias)
        if room_id is None:
            raise TransportError(f"creating {alias} failed: the alias is taken but resolves to no room")
        if room_id not in await self.joined_rooms():
            await self.join(room_id, "create_room", alias)
        state = await self.room_state(room_id)
        _version, creators = next(
            (found for found in map(events.creators_of, state) if found is not None), ("1", frozenset())
        )
        if self._own not in creators:
            raise TransportError(f"{alias} is taken by a room the bot did not create; not using it")
        return room_id

    async def resolve_alias(self, alias: str) -> RoomId | None:
        """The room an alias points to; None when there is no such alias."""
        resp = await request(
            lambda: self._client.room_resolve_alias(alias), f"resolving {alias}", ok_errcodes=_NOT_FOUND
        )
        return RoomId(resp.room_id) if isinstance(resp, RoomResolveAliasResponse) else None

    async def room_state(self, room_id: RoomId) -> list[Mapping[str, Any]]:
        """The room's current state events (the bot must be in the room)."""
        resp = await request(lambda: self._client.room_get_state(room_id), f"reading the state of {room_id}")
        if not isinstance(resp, RoomGetStateResponse):
            raise TransportError(f"reading the state of {room_id} failed")
        room_state: list[Mapping[str, Any]] = [e for e in resp.events if isinstance(e, dict)]
        self._note_creators(room_id, room_state)
        return room_state

    async def leave(self, room_id: RoomId) -> None:
        """Leave a room (one the bot refused to adopt); a failure is only logged."""
        try:
            await request(lambda: self._client.room_leave(room_id), f"leaving {room_id}")
        except TransportError as exc:
            log.warning("could not leave %s: %s", room_id, exc)
        self.forget(room_id)

    # -------------------------------------------------------------------- helpers

    async def join(self, room_ref: str, key: str, shown: str) -> RoomId:
        resp = await request(
            lambda: self._client.join(room_ref),
            f"joining {shown}",
            ok_errcodes=("M_FORBIDDEN", "M_NOT_FOUND", "M_UNKNOWN"),
        )
        if not isinstance(resp, JoinResponse):
            raise TransportError(
                f"{key}: the bot cannot join {shown} ({describe(resp)}); invite {self._own} "
                "or let the bot create the room"
            )
        return RoomId(resp.room_id)

    async def joined_rooms(self) -> set[RoomId]:
        resp = await request(self._client.joined_rooms, "listing joined rooms")
        if not isinstance(resp, JoinedRoomsResponse):
            raise TransportError("listing joined rooms failed")
        return {RoomId(r) for r in resp.rooms}

    async def with_creator(self, users: dict[str, int]) -> dict[str, int]:
        """``users`` plus the bot at 100 where the room version needs it (before v12)."""
        if await self._creators_have_power():
            return {u: lvl for u, lvl in users.items() if u != self._own}
        return {**users, self._own: 100}

    async def _creators_have_power(self) -> bool:
        if self._default_creator_power is None:
            version = "12"
            try:
                caps = await api_json_checked(self._client, "GET", ["capabilities"], "reading capabilities")
                versions = caps.get("capabilities", {}).get("m.room_versions", {})
                if isinstance(versions.get("default"), str):
                    version = versions["default"]
            except _CAPABILITY_ERRORS as exc:
                log.warning("could not read the default room version (%s); assuming %s", exc, version)
            self._default_creator_power = events.creators_have_power(version)
        return self._default_creator_power
