"""What the core needs from a chat network, and what it receives from one.

The Matrix adapter (``bot.matrix``) is one implementation; a console or test transport
would be another. Nothing outside the adapter knows about Matrix event formats.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.ids import EventId, RoomId, UserId


@dataclass(frozen=True)
class StructuredCommand:
    """A command a client sent as data (MSC4391) rather than as typed text.

    ``arguments`` are the client's JSON values by parameter key, not yet validated: the
    router converts them with the same converters as typed text.
    """

    command: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IncomingMessage:
    """A text message a member sent, already decrypted and validated by the transport.

    ``mentions`` are the users the message deliberately mentions (``m.mentions``);
    ``command`` is set when the client sent a structured command (MSC4391).
    """

    event_id: EventId
    room_id: RoomId
    sender: UserId
    body: str
    timestamp: datetime
    is_direct: bool
    thread_root: EventId | None = None
    reply_to: EventId | None = None
    #: Received in the catch-up after the bot (re)started: what members sent while it was
    #: down. Decided by the transport from when it received the event, never from the
    #: sender's timestamp alone.
    backlog: bool = False
    mentions: tuple[UserId, ...] = ()
    command: StructuredCommand | None = None


@dataclass(frozen=True)
class IncomingReaction:
    """A member reacted to an event (``removed`` when they took the reaction back)."""

    event_id: EventId
    room_id: RoomId
    sender: UserId
    target_event_id: EventId
    key: str
    timestamp: datetime
    removed: bool = False
    backlog: bool = False


@dataclass(frozen=True)
class MemberJoined:
    """A member joined a room the bot is in."""

    event_id: EventId
    room_id: RoomId
    user_id: UserId
    timestamp: datetime


@dataclass(frozen=True)
class Undecryptable:
    """A member's message stayed unreadable (its room key never came); the core tells them.

    The transport only reports it: what to say, and in which language, is the core's.
    ``withheld`` is the code the member's client gave for not sending the key
    (``m.unverified``, ``m.blacklisted``, ...): then it is reported at once, not after
    the wait, and the member is told how to let the bot read them.
    """

    event_id: EventId
    room_id: RoomId
    sender: UserId
    timestamp: datetime
    is_direct: bool
    withheld: str | None = None


@dataclass(frozen=True)
class NewDevice:
    """A member's account has a device the bot had not seen (or, ``key_changed``, a known
    device with another key, which gets no room keys now); the core tells the member.

    ``event_id`` is stable for one member, device and key, so a notice repeated after a
    crash is the same message.
    """

    event_id: EventId
    user_id: UserId
    device_id: str
    device_name: str
    key_changed: bool
    timestamp: datetime


#: MSC3381 allows at most this many answers per poll; clients drop the rest.
POLL_MAX_ANSWERS = 20


@dataclass(frozen=True)
class VerificationNotice:
    """A member verifies the bot in their DM (in-room SAS); the core tells them where it stands.

    ``stage``: ``accepted`` (the bot took the request: compare the emoji in the app),
    ``verified`` (the member confirmed and the MACs matched) or ``cancelled`` (the bot
    ended it). ``event_id`` is the request's, so a notice is the same message on a retry.
    """

    event_id: EventId
    room_id: RoomId
    sender: UserId
    stage: str


@dataclass(frozen=True)
class PollAnswer:
    """One answer of a poll; ``id`` is what votes name (we use its number, "1", "2", …,
    so a vote by poll and a typed ``!stem 2`` name the same answer)."""

    id: str
    text: str


@dataclass(frozen=True)
class Poll:
    """A question with answers that members pick from, shown as a poll where the client
    can (and as text with a command fallback where it cannot).

    ``disclosed``: members see the running results while it is open (otherwise only at
    the end). ``max_selections``: how many answers a member may pick.
    """

    question: str
    answers: tuple[PollAnswer, ...]
    disclosed: bool = True
    max_selections: int = 1

    def answer(self, answer_id: str) -> PollAnswer | None:
        return next((a for a in self.answers if a.id == answer_id), None)


@dataclass(frozen=True)
class PollVote:
    """A member answered a poll in their client (a poll response).

    ``answer_ids`` are as sent, not yet checked against the poll: the core decides what
    counts (unknown ids spoil the vote, extra ones beyond ``max_selections`` are dropped).
    """

    event_id: EventId
    room_id: RoomId
    sender: UserId
    poll_event_id: EventId
    answer_ids: tuple[str, ...]
    timestamp: datetime
    backlog: bool = False


@dataclass(frozen=True)
class PollEnded:
    """Someone other than the bot ended a poll (a client's "end poll")."""

    event_id: EventId
    room_id: RoomId
    sender: UserId
    poll_event_id: EventId
    timestamp: datetime
    backlog: bool = False


IncomingEvent = (
    IncomingMessage
    | IncomingReaction
    | MemberJoined
    | Undecryptable
    | NewDevice
    | VerificationNotice
    | PollVote
    | PollEnded
)
EventHandler = Callable[[IncomingEvent], Awaitable[None]]


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to send.

    ``markdown`` is rendered to sanitised HTML by the transport; ``plain`` is the body
    for clients without HTML. Both were built by :mod:`bot.formatting`, which escaped
    user text. ``mentions`` lists who is deliberately pinged; everyone else is not.
    ``txn_id`` makes a retry of the same send idempotent.
    """

    room_id: RoomId
    plain: str
    html: str | None = None
    thread_root: EventId | None = None
    reply_to: EventId | None = None
    mentions: Sequence[UserId] = ()
    notice: bool = True
    txn_id: str | None = None
    # An edit of an earlier message of the bot (an event card showing the places left).
    # Sent directly, never through the outbox.
    replaces: EventId | None = None
    # Sent unencrypted even in an encrypted room: only for a fixed text with nothing
    # personal in it, that a member must read when their app will not decrypt the bot's
    # messages (it withheld its key because the bot's device is not verified for it).
    in_the_clear: bool = False


@dataclass(frozen=True)
class Upload:
    """A file to post in a room (a calendar file, a chart, an export)."""

    room_id: RoomId
    data: bytes
    filename: str
    content_type: str
    thread_root: EventId | None = None
    txn_id: str | None = None


@dataclass(frozen=True)
class Attachment:
    """A file for a member, uploaded after the text it belongs to (see
    :meth:`bot.members.MemberService.tell`)."""

    data: bytes
    filename: str
    content_type: str


@dataclass(frozen=True)
class SentFile:
    """A file the bot posted in a room (an export, a calendar file), still there."""

    event_id: EventId
    filename: str
    sent_at: datetime
    #: Where the homeserver keeps it (``mxc://…``); encrypted when the room is.
    content_uri: str


@dataclass(frozen=True)
class RoomSpec:
    """A room to create inside the community space."""

    alias_localpart: str | None
    name: str
    topic: str = ""
    invite: Sequence[UserId] = ()
    is_direct: bool = False
    #: Always encrypted (``encrypted``), or as a room for private matters, which the
    #: transport encrypts by default (``matrix.encrypt_private_rooms``); DMs count as private.
    encrypted: bool = False
    private: bool = False
    power_users: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RoomStateEvent:
    """One current state event of a room."""

    state_key: str
    sender: UserId
    content: Mapping[str, Any]


@dataclass(frozen=True)
class RoomStateOfType:
    """A room's current state events of one type, and whether the bot may send that type
    (its power level reaches what ``m.room.power_levels`` asks for it)."""

    events: Sequence[RoomStateEvent]
    may_send: bool


class Transport(Protocol):
    """The operations features and the core may ask of the chat network."""

    @property
    def own_user_id(self) -> UserId: ...

    @property
    def server_name(self) -> str:
        """The homeserver's name, to complete a bare ``@name`` a member typed."""
        ...

    def permalink(self, room_id: RoomId, event_id: EventId | None = None) -> str:
        """A link anyone in the room can open (a room, or one message in it)."""
        ...

    def user_permalink(self, user_id: UserId) -> str:
        """A link to a member that clients show as their name, without pinging them."""
        ...

    async def send(self, message: OutgoingMessage) -> EventId: ...

    async def react(
        self, room_id: RoomId, event_id: EventId, key: str, txn_id: str | None = None
    ) -> EventId: ...

    async def upload(self, upload: Upload) -> EventId: ...

    async def send_poll(
        self,
        room_id: RoomId,
        poll: Poll,
        fallback_text: str,
        *,
        fallback_html: str | None = None,
        txn_id: str | None = None,
    ) -> EventId:
        """Start a poll. ``fallback_text`` is all a client without polls shows: it must
        hold the question, the numbered answers and how to answer by command."""
        ...

    async def end_poll(
        self,
        room_id: RoomId,
        poll_event_id: EventId,
        result_text: str,
        counts: Mapping[str, int],
        *,
        txn_id: str | None = None,
    ) -> EventId:
        """End a poll the bot started; ``result_text`` is what every client shows."""
        ...

    async def redact(self, room_id: RoomId, event_id: EventId, reason: str | None = None) -> None:
        """Remove an event (an introduction card of a member who asked to be forgotten).

        An event that is gone already counts as done; retried like a send.
        """
        ...

    async def direct_room(self, user_id: UserId) -> RoomId:
        """The DM room with ``user_id``, created (and marked direct) when there is none."""
        ...

    async def forget_direct_room(self, user_id: UserId) -> None:
        """Drop whatever the transport remembers about the member's DM (after an erase)."""
        ...

    async def files_sent(self, room_id: RoomId) -> list[SentFile]:
        """The files the bot posted in ``room_id`` that are not redacted (oldest first)."""
        ...

    async def member_data(self, user_id: UserId) -> dict[str, Any]:
        """What the transport itself keeps about a member (for their export)."""
        ...

    async def forget_member(self, user_id: UserId) -> int:
        """Erase what the transport itself keeps about a member (encryption records,
        messages waiting for keys); how many records went."""
        ...

    async def create_room(self, spec: RoomSpec) -> RoomId: ...

    async def power_level(self, room_id: RoomId, user_id: UserId) -> int: ...

    async def is_direct(self, room_id: RoomId) -> bool: ...

    async def room_members(self, room_id: RoomId) -> list[UserId]: ...

    async def read_room_state(self, room_id: RoomId, event_type: str) -> RoomStateOfType:
        """The room's current state events of ``event_type`` (the bot must be in the room)."""
        ...

    async def publish_room_state(
        self, room_id: RoomId, event_type: str, state_key: str, content: Mapping[str, Any]
    ) -> EventId:
        """Set one state event; retried like a send. ``{}`` blanks an earlier one."""
        ...


class Connection(Transport, Protocol):
    """A transport with its life cycle, as the app drives it (see :mod:`bot.app`)::

        await transport.connect()                     # credentials, stored state
        await transport.setup_community(names, space) # rooms found or created
        await transport.run(handler)                  # events until stop()
        await transport.stop()

    ``last_sync_ok`` is what the health check reads. A transport that avoids ``/sync``
    (a Matrix application service pushed events by the homeserver) fits the same shape:
    ``run`` would serve the pushed transactions instead of polling.
    """

    @property
    def last_sync_ok(self) -> datetime | None:
        """When the last batch of incoming events was fully handled (None before one)."""
        ...

    async def connect(self) -> None: ...

    async def setup_community(self, room_names: Mapping[str, tuple[str, str]], space_name: str) -> None: ...

    async def run(self, handler: EventHandler) -> None: ...

    async def stop(self) -> None: ...
