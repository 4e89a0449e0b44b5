"""Direct chats: which rooms are the bot's private chats with members, whether a chat
still is private, and the invites that open one.

A direct chat is exactly the bot and one member. Private answers go there, so a room
that others have entered is never treated as one: the bot leaves it and opens a new
chat. Which rooms are direct chats with whom is recorded (database and ``m.direct``)
by :class:`~bot.matrix.direct_chats.DirectChatRecords`; this class keeps what was
checked in memory, so a fan-out to thousands of members asks the homeserver nothing
per member.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from nio import AsyncClient, ErrorResponse, InviteMemberEvent, RoomCreateResponse, RoomPreset, RoomVisibility

from bot.clock import Clock
from bot.config import Config
from bot.errors import TransportError
from bot.ids import RoomId, UserId
from bot.locks import KeyedLocks
from bot.matrix import events
from bot.matrix.direct_chats import DirectChatRecords
from bot.matrix.homeserver_calls import request
from bot.matrix.rooms import ENCRYPTION_STATE, RoomManager
from bot.room_directory import RoomDirectory
from bot.storage.database import Database
from bot.storage.models import DirectRoom
from bot.transport import RoomSpec

log = logging.getLogger(__name__)


class DirectChats:
    """The bot's direct chats with members: recognising, finding or opening, accepting."""

    def __init__(
        self,
        client: AsyncClient,
        config: Config,
        db: Database,
        clock: Clock,
        directory: RoomDirectory,
        rooms: RoomManager,
    ) -> None:
        self._client = client
        self._db = db
        self._directory = directory
        self._rooms = rooms
        self._own = UserId(config.matrix.user_id)
        allowed = set(config.community.allowed_homeservers)
        allowed.add(config.matrix.server_name)
        self._allowed_servers = frozenset(allowed)
        self._records = DirectChatRecords(client, db, clock, self._own)
        # One member's DM is looked up or opened by one task at a time (never two rooms
        # for one member), members side by side: a digest checks thousands of DMs.
        self._dm_locks: KeyedLocks[UserId] = KeyedLocks()
        # DMs found to be only the bot and the member since their last membership change
        # seen in the sync: a digest to thousands then asks the homeserver nothing per
        # member (it asked twice per member, the joined-rooms list growing with them).
        self._dm_checked: set[RoomId] = set()
        # Each member's DM as last returned: while it is in ``_dm_checked`` a fan-out to
        # hundreds (a reminder, the digest) reads no database row per member either.
        self._dm_of: dict[UserId, RoomId] = {}
        # Rooms the homeserver said the bot is in, for those nio has not synced this run
        # (after a restart's incremental sync, most DMs): one list for all of them
        # instead of one per DM checked (the list grows with every member).
        self._joined_known: set[RoomId] = set()

    # ------------------------------------------------------------------ knowledge

    def allowed_user(self, user_id: str) -> bool:
        """The user's homeserver may open direct chats with the bot."""
        return events.server_of(user_id) in self._allowed_servers

    def is_direct_cached(self, room_id: RoomId) -> bool:
        """Whether a room is a direct chat, from memory only (used for every event)."""
        if self._directory.is_known(room_id):
            return False
        room = self._client.rooms.get(room_id)
        if room_id in self._records:
            # A direct chat that others have joined is not private any more: the bot
            # must not treat it as a place for personal answers.
            return room is None or room.joined_count <= 2
        return room is not None and room.room_type is None and room.joined_count == 2

    def acts_in(self, room_id: RoomId) -> bool:
        """The bot handles events here: a known community room or a direct chat."""
        return self._directory.is_known(room_id) or self.is_direct_cached(room_id)

    async def is_direct(self, room_id: RoomId) -> bool:
        if self._directory.is_known(room_id):
            return False
        try:
            members = await self._rooms.room_members(room_id)
        except TransportError:
            return False
        if room_id in self._records:
            return len(members) <= 2
        return len(members) == 2 and self._own in members

    async def load(self) -> None:
        """Recorded DMs and the bot's ``m.direct`` account data, into memory."""
        await self._records.load()

    def note_room_events(self, room_id: RoomId, sources: Sequence[Mapping[str, Any]]) -> None:
        """Synced state/timeline of a room: a membership change makes a checked DM unchecked."""
        if room_id in self._dm_checked and any(self._changes_dm(room_id, source) for source in sources):
            self._dm_checked.discard(room_id)  # someone came or went: check again before the next DM

    def _changes_dm(self, room_id: RoomId, source: Mapping[str, Any]) -> bool:
        """Whether a synced event may have changed who is in a checked DM.

        The bot or the member joined (or invited) is no change: with lazy-loaded members
        every sync that carries the DM's messages also carries their senders' member
        events, and counting those made a reminder right after the digest ask the
        homeserver for the state of every DM again.
        """
        if source.get("type") != "m.room.member":
            return False
        content = source.get("content")
        membership = content.get("membership") if isinstance(content, Mapping) else None
        the_two = {self._own, self._records.member_of(room_id)}
        return source.get("state_key") not in the_two or membership not in ("join", "invite")

    def note_created(self, room_id: RoomId, spec: RoomSpec) -> None:
        """A room :meth:`RoomManager.create_room` made: a direct one with one member is their DM."""
        if spec.is_direct and len(spec.invite) == 1:
            self._records.note(room_id, UserId(spec.invite[0]))

    def forget(self, room_id: RoomId) -> None:
        """The bot left or was removed from ``room_id``."""
        self._records.forget_room(room_id)
        self._dm_checked.discard(room_id)
        self._joined_known.discard(room_id)

    async def _leave(self, room_id: RoomId) -> None:
        await self._rooms.leave(room_id)
        self.forget(room_id)

    # ----------------------------------------------------------- the member's DM

    async def direct_room(self, user_id: UserId) -> RoomId:
        """The recorded DM with ``user_id`` if the bot is still in it, else a new one."""
        known = self._dm_of.get(user_id)
        if known is not None and known in self._dm_checked:
            return known
        async with self._dm_locks.hold(user_id):
            async with self._db.session() as session:
                row = await session.get(DirectRoom, user_id)
            if row is not None:
                recorded = RoomId(row.room_id)
                if recorded in self._dm_checked or await self._dm_usable(recorded, user_id):
                    self._dm_checked.add(recorded)
                    self._dm_of[user_id] = recorded
                    return recorded
            resp = await request(
                lambda: self._client.room_create(
                    visibility=RoomVisibility.private,
                    preset=RoomPreset.private_chat,  # trusted_private_chat would make them a creator
                    is_direct=True,
                    invite=[user_id],
                    initial_state=[ENCRYPTION_STATE] if self._rooms.encrypt_new_room(None) else [],
                ),
                "creating a direct chat",
            )
            if not isinstance(resp, RoomCreateResponse):
                raise TransportError("creating a direct chat failed")
            room_id = RoomId(resp.room_id)
            log.info("created direct chat %s", room_id)
            await self._records.record(user_id, room_id)
            self._dm_checked.add(room_id)  # the bot and the member it invited, nobody else
            self._dm_of[user_id] = room_id
            return room_id

    async def _dm_usable(self, room_id: RoomId, user_id: UserId) -> bool:
        """The recorded DM still is one: the bot and the member, nobody else joined or
        invited. A room others have entered is left (a new DM is opened instead), so
        private messages never reach a third person."""
        if not await self._is_joined(room_id):
            return False
        memberships = await self._memberships(room_id)
        others = {
            user
            for user, membership in memberships.items()
            if membership in ("join", "invite") and user not in (self._own, user_id)
        }
        if others:
            log.warning("direct chat %s has %d other member(s); opening a new one", room_id, len(others))
            await self._leave(room_id)
            return False
        membership = memberships.get(user_id)
        if membership in ("join", "invite"):
            return True
        if membership == "ban":
            return False
        invited = await request(
            lambda: self._client.room_invite(room_id, user_id),
            f"re-inviting a member to {room_id}",
            ok_errcodes=("M_FORBIDDEN",),
        )
        return not isinstance(invited, ErrorResponse)

    async def _is_joined(self, room_id: RoomId) -> bool:
        """Whether the bot is in the room: from the sync when it has the room (the list of
        joined rooms grows with every member's DM), else from the homeserver."""
        if (self._client.next_batch and room_id in self._client.rooms) or room_id in self._joined_known:
            return True
        # Not synced this run, or a room created a moment ago: ask the homeserver.
        self._joined_known = await self._rooms.joined_rooms()
        return room_id in self._joined_known

    async def _memberships(self, room_id: RoomId) -> dict[str, str]:
        """Every user's membership in the room (join, invite, leave, ban), from its state."""
        found: dict[str, str] = {}
        for source in await self._rooms.room_state(room_id):
            if source.get("type") != "m.room.member":
                continue
            user, content = source.get("state_key"), source.get("content")
            if isinstance(user, str) and isinstance(content, Mapping):
                membership = content.get("membership")
                if isinstance(membership, str):
                    found[user] = membership
        return found

    async def forget_direct_room(self, user_id: UserId) -> list[RoomId]:
        """The member was forgotten: drop their DM from memory and from ``m.direct``;
        returns the rooms that were their DMs.

        The database row is erased by the core (:mod:`bot.core_data`). The room stays:
        the member reads the confirmation there and may talk to the bot again; while
        two are in it, it is still recognised as a direct chat by its size.
        """
        async with self._dm_locks.hold(user_id):
            self._dm_of.pop(user_id, None)
            dropped = await self._records.forget_member(user_id)
            self._dm_checked.difference_update(dropped)
            return dropped

    # -------------------------------------------------------------------- invites

    async def handle_invite(self, room_id: RoomId, invite_state: Sequence[Any]) -> None:
        """Accept invites to configured rooms and allowed DMs; decline everything else.

        ``invite_state`` may hold several member events; only the one inviting the bot
        counts, and the decision is taken once per room.
        """
        invite: InviteMemberEvent | None = None
        for event in invite_state:
            if (
                isinstance(event, InviteMemberEvent)
                and event.state_key == self._own
                and event.membership == "invite"
            ):
                invite = event
        if invite is None:
            return
        inviter = UserId(invite.sender)
        if self._directory.is_known(room_id):
            if await self._accept(room_id):
                log.info("joined community room %s after an invite", room_id)
            return
        if invite.content.get("is_direct") is True and self.allowed_user(inviter):
            if await self._accept(room_id):
                if await self._only_the_two_of_us(room_id, inviter):
                    log.info("accepted a direct chat invite to %s", room_id)
                    await self._records.record(inviter, room_id)
                    self._dm_of.pop(inviter, None)  # their DM is this one now
                else:
                    # "Direct" in name only: others are in it, so nothing private goes there.
                    log.info("leaving %s: a direct chat invite into a room with other members", room_id)
                    await self._leave(room_id)
            return
        log.info("declining an invite to %s (not a community room or an allowed direct chat)", room_id)
        await self._leave(room_id)

    async def _only_the_two_of_us(self, room_id: RoomId, inviter: UserId) -> bool:
        memberships = await self._memberships(room_id)
        present = {user for user, m in memberships.items() if m in ("join", "invite")}
        return present <= {self._own, inviter}

    async def _accept(self, room_id: RoomId) -> bool:
        try:
            await self._rooms.join(room_id, "invite", room_id)
        except TransportError as exc:
            log.warning("could not accept the invite to %s: %s", room_id, exc)
            await self._leave(room_id)
            return False
        return True
