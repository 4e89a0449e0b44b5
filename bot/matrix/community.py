"""The community's space and rooms: found, created or refused at start-up.

A room the bot acts in gives its admins power over the bot's community commands (the
case queue, statistics, events), so which rooms the bot adopts is a trust decision:

- a room configured by **room id** is adopted: the operator named that room;
- a room the bot **created** (remembered in ``core_state``, or found with the bot as
  its creator) is adopted;
- a room that already exists under a configured **alias** is adopted only when its
  creator is an admin from the config *and* the bot holds the power it needs there;
- anything else is refused with one clear start-up message and the bot leaves it. A
  member who creates ``#welkom:<server>`` before the operator does would otherwise be
  that room's creator, and so its admin in the bot's eyes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from nio import AsyncClient, RoomCreateResponse, RoomPreset, RoomVisibility

from bot.config import Config
from bot.errors import CommunitySetupError, InvalidCredentials, TransportError, TransportUnavailable
from bot.ids import RoomId, UserId
from bot.matrix import events, state
from bot.matrix.homeserver_calls import request
from bot.matrix.rooms import ENCRYPTION_STATE, RoomManager
from bot.room_directory import RoomDirectory
from bot.storage.database import Database

log = logging.getLogger(__name__)

DEFAULT_SPACE_LOCALPART = "kennisbrug"
#: ``core_state`` key: the rooms the bot created or adopted, by configured reference.
ADOPTED_ROOMS = "matrix.community_rooms"


class CommunitySetup:
    """Resolves the configured space and rooms into the room directory."""

    def __init__(
        self, client: AsyncClient, config: Config, db: Database, rooms: RoomManager, directory: RoomDirectory
    ) -> None:
        self._client = client
        self._config = config
        self._db = db
        self._rooms = rooms
        self._directory = directory
        self._own = UserId(config.matrix.user_id)
        self._server = config.matrix.server_name
        self._adopted: dict[str, str] = {}

    async def setup(self, room_names: Mapping[str, tuple[str, str]], space_name: str) -> None:
        """Resolve (or create) the space and every configured room, join them, link them.

        Idempotent: a second run finds everything and changes nothing.
        """
        self._adopted = await self._load_adopted()
        joined = await self._rooms.joined_rooms()
        space_id = await self._space(space_name, joined)
        self._directory.space_id = space_id
        for logical, ref in self._config.all_rooms().items():
            name, topic = room_names.get(logical, (logical, ""))
            room_id = await self._ensure(f"rooms.{logical}", ref, name, topic, joined, space_id=space_id)
            self._directory.set(logical, room_id)
        await state.save(self._db, {ADOPTED_ROOMS: json.dumps(self._adopted, sort_keys=True)})
        if space_id is not None:
            for room_id in self._directory.community_rooms():
                await self._rooms.link_to_space(space_id, room_id)
        log.info(
            "community ready: space %s, %d rooms", space_id or "none", len(self._directory.community_rooms())
        )

    async def _space(self, space_name: str, joined: set[RoomId]) -> RoomId | None:
        """The configured space, or the default one; ``None`` when the community has none.

        An operator who made the rooms by hand (``create_rooms: false``) and named no space
        needs none: roles then come from the config and the rooms alone. The default space
        is still used when it exists and may be adopted; one under the default alias that
        may not is left (as any squatted room) and the bot runs without a space, because a
        member could otherwise stop the bot by creating ``#kennisbrug:<server>``.
        """
        community = self._config.community
        if community.space is not None:
            return await self._ensure("community.space", community.space, space_name, "", joined, space=True)
        default_ref = f"#{DEFAULT_SPACE_LOCALPART}:{self._server}"
        if community.create_rooms:
            return await self._ensure("community.space", default_ref, space_name, "", joined, space=True)
        if await self._rooms.resolve_alias(default_ref) is None:
            log.info("no community space: none configured, %s does not exist, no rooms created", default_ref)
            return None
        try:
            return await self._ensure("community.space", default_ref, space_name, "", joined, space=True)
        except (InvalidCredentials, TransportUnavailable):
            raise
        except TransportError as exc:
            # Refused (squatted) or not joinable: the optional space is not used.
            log.warning("running without a community space: %s", exc)
            return None

    async def _load_adopted(self) -> dict[str, str]:
        stored = (await state.load(self._db, ADOPTED_ROOMS)).get(ADOPTED_ROOMS)
        try:
            loaded = json.loads(stored) if stored else {}
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}

    async def _ensure(
        self,
        key: str,
        ref: str,
        name: str,
        topic: str,
        joined: set[RoomId],
        *,
        space: bool = False,
        space_id: RoomId | None = None,
    ) -> RoomId:
        if ref.startswith("!"):
            room_id = RoomId(ref)
            if room_id not in joined:
                await self._rooms.join(room_id, key, ref)
            return room_id
        existing = await self._rooms.resolve_alias(ref)
        if existing is not None:
            if existing not in joined:
                await self._rooms.join(existing, key, ref)
                joined.add(existing)
            await self._check_adoption(key, ref, existing)
            self._adopted[ref] = existing
            return existing
        localpart, _, alias_server = ref[1:].partition(":")
        if not self._config.community.create_rooms:
            raise CommunitySetupError(f"{key}: {ref} does not exist and community.create_rooms is false")
        if alias_server != self._server:
            raise CommunitySetupError(
                f"{key}: {ref} does not exist; the bot can only create rooms on {self._server}"
            )
        room_id = await self._create(key, localpart, name, topic, space=space, space_id=space_id)
        joined.add(room_id)
        self._adopted[ref] = room_id
        return room_id

    async def _check_adoption(self, key: str, ref: str, room_id: RoomId) -> None:
        """Refuse (and leave) a room under a configured alias that nobody trusted made."""
        if self._adopted.get(ref) == room_id:
            return
        problem = await self._adoption_problem(room_id)
        if problem is None:
            log.info("%s: adopting the existing room %s (%s)", key, ref, room_id)
            return
        await self._rooms.leave(room_id)
        raise CommunitySetupError(
            f"{key}: {ref} already exists and {problem}; the bot does not take it over. Configure "
            f"the room by its id (!…) if you trust it, or remove the alias and let the bot create it"
        )

    async def _adoption_problem(self, room_id: RoomId) -> str | None:
        room_state = await self._rooms.room_state(room_id)
        creators: frozenset[str] = frozenset()
        levels: Mapping[str, Any] = {}
        for source in room_state:
            found = events.creators_of(source)
            if found is not None:
                creators = found[1]
            if source.get("type") == "m.room.power_levels" and source.get("state_key") == "":
                content = source.get("content")
                levels = content if isinstance(content, Mapping) else {}
        if self._own in creators:
            return None
        trusted = set(self._config.community.admins)
        if not creators & trusted:
            made_by = ", ".join(sorted(creators)) or "an unknown user"
            return f"was created by {made_by}, not by a configured admin"
        needed = max(_level(levels.get("state_default"), 50), _level(levels.get("redact"), 50))
        own_level = await self._rooms.power_level(room_id, self._own)
        if own_level < needed:
            return f"the bot has power level {own_level} there and needs {needed} (state events, redactions)"
        return None

    async def _create(
        self, key: str, localpart: str, name: str, topic: str, *, space: bool, space_id: RoomId | None
    ) -> RoomId:
        community = self._config.community
        users: dict[str, int] = {user: community.moderator_power_level for user in community.moderators}
        users.update({user: community.admin_power_level for user in community.admins})
        override: dict[str, Any] = {"users": await self._rooms.with_creator(users)}
        if space:
            override["events_default"] = 100  # a space is a directory, not a chat
        initial_state: list[dict[str, Any]] = []
        if space_id is not None:
            initial_state.append(
                {
                    "type": "m.space.parent",
                    "state_key": space_id,
                    "content": {"via": [self._server], "canonical": True},
                }
            )
        if not space and self._config.matrix.encryption and self._config.matrix.encrypt_community_rooms:
            initial_state.append(ENCRYPTION_STATE)
        invite = [
            user for user in dict.fromkeys((*community.admins, *community.moderators)) if user != self._own
        ]
        resp = await request(
            lambda: self._client.room_create(
                visibility=RoomVisibility.private,
                alias=localpart,
                name=name,
                topic=topic or None,
                preset=RoomPreset.public_chat,
                invite=invite,
                initial_state=initial_state,
                power_level_override=override,
                space=space,
            ),
            f"creating {key}",
        )
        if not isinstance(resp, RoomCreateResponse):
            raise TransportError(f"{key}: creating the room failed")
        log.info("%s: created %s (%s)", key, resp.room_id, "space" if space else "room")
        return RoomId(resp.room_id)


def _level(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
