"""The pair's room: made once an offer is accepted, with a first agenda, the check-in
jobs and a word to the requester. Every step is safe to repeat, so a start after a
crash finishes a pair that was half set up."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.ids import RoomId, UserId
from bot.transport import OutgoingMessage, RoomSpec
from commands.buddy.checkins import CheckinJobs
from commands.buddy.models import BuddyPair
from commands.buddy.state import BuddyState
from commands.buddy.statuses import ACTIVE
from commands.buddy.text import BuddyText, nothing

log = logging.getLogger(__name__)

# A pair made this recently may have been interrupted half-way through its set-up
# (room made, agenda or message not yet queued); older pairs are complete.
RESUME_WINDOW = timedelta(days=1)


class PairRooms:
    def __init__(self, state: BuddyState, text: BuddyText, checkins: CheckinJobs) -> None:
        self._state = state
        self._text = text
        self._checkins = checkins

    async def resume(self) -> None:
        """Watch every pair room again and finish recent pairs; one failure stops none."""
        recent = self._state.services.clock.now() - RESUME_WINDOW
        for pair in await self._state.store.active_pairs():
            if pair.room_id:
                self._state.services.rooms.add_private(RoomId(pair.room_id))
                if pair.started_at < recent:
                    continue  # set up long ago; nothing can be half done
            try:
                await self.complete(pair.id)
            except Exception:
                log.exception("buddy pair %d could not be completed at start; retried next start", pair.id)

    async def complete(self, pair_id: int) -> BuddyPair | None:
        """The room, the agenda, the check-ins and the requester's message; safe to repeat."""
        pair = await self._state.store.pair(pair_id)
        if pair is None or pair.status != ACTIVE or not pair.member_a or not pair.member_b:
            return pair
        room = await self._room_of(pair)
        await self._post_agenda(pair, room)
        await self._checkins.schedule(pair)
        await self._tell_requester(pair, room)
        return pair

    async def _room_of(self, pair: BuddyPair) -> RoomId:
        """The pair's private room, made now if the pair has none yet."""
        if pair.room_id is None:
            language = self._state.services.config.community.language
            catalogue = self._state.services.catalogue
            room = await self._state.services.transport.create_room(
                RoomSpec(
                    alias_localpart=pair.room_alias,
                    name=catalogue.plain(language, "buddy.room.name", number=pair.id),
                    topic=catalogue.plain(language, "buddy.room.topic"),
                    invite=[UserId(pair.member_a or ""), UserId(pair.member_b or "")],
                    is_direct=False,
                    private=True,  # encrypted when matrix.encrypt_private_rooms (the default)
                )
            )
            await self._state.store.set_room(pair.id, room)
            pair.room_id = room
        self._state.services.rooms.add_private(RoomId(pair.room_id))
        return RoomId(pair.room_id)

    async def _post_agenda(self, pair: BuddyPair, room: RoomId) -> None:
        """A first agenda in the room, in the community's language (the room is shared)."""
        store, catalogue = self._state.store, self._state.services.catalogue
        language = self._state.services.config.community.language
        request = await store.request(pair.request_id) if pair.request_id else None
        topic = request.topic if request else None
        rendered = catalogue.render(
            language,
            "buddy.room.agenda",
            a=self._text.mention(language, pair.member_a or ""),
            b=self._text.mention(language, pair.member_b or ""),
            topic=catalogue.fragment(language, "buddy.room.topic_line", topic=topic) if topic else nothing(),
            number=pair.id,
        )
        await self._state.services.outbox.enqueue(
            OutgoingMessage(
                room_id=room,
                plain=rendered.plain,
                html=rendered.html,
                notice=False,
                txn_id=f"buddy.agenda.{pair.id}",
            )
        )

    async def _tell_requester(self, pair: BuddyPair, room: RoomId) -> None:
        """The requester (member a) hears who said yes; the candidate was answered directly."""
        partner = pair.member_b or ""
        await self._state.services.members.tell(
            UserId(pair.member_a or ""),
            "buddy.matched",
            txn_id=f"buddy.matched.{pair.id}",
            partner=lambda language: self._text.mention(language, partner),
            room=self._text.room_link(room),
            number=pair.id,
        )
