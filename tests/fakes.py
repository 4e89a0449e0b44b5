"""A recording transport for unit tests: the fake sits at the transport boundary only;
everything behind it (router, registry, database, catalogues) is real."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.clock import Clock
from bot.config import Config, parse_config
from bot.ids import EventId, RoomId, UserId
from bot.room_directory import RoomDirectory
from bot.storage import Database
from bot.transport import (
    IncomingMessage,
    OutgoingMessage,
    Poll,
    RoomSpec,
    RoomStateEvent,
    RoomStateOfType,
    SentFile,
    StructuredCommand,
    Upload,
)

BOT = UserId("@kennisbrug:localhost")
ALICE = UserId("@alice:localhost")  # an admin in the test config
BOB = UserId("@bob:localhost")  # an ordinary member


@dataclass
class FakeTransport:
    config: Config
    db: Database
    clock: Clock
    rooms: RoomDirectory
    sent: list[OutgoingMessage] = field(default_factory=list)
    reactions: list[tuple[RoomId, EventId, str]] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    redactions: list[tuple[RoomId, EventId, str | None]] = field(default_factory=list)
    forgotten_direct_rooms: list[UserId] = field(default_factory=list)
    #: Files posted, by event id (a redaction removes one), and what a real transport
    #: would keep about members itself (encryption records), with who was forgotten.
    files: dict[EventId, tuple[RoomId, SentFile]] = field(default_factory=dict)
    member_records: dict[UserId, dict[str, Any]] = field(default_factory=dict)
    forgotten_members: list[UserId] = field(default_factory=list)
    levels: dict[tuple[str, str], int] = field(default_factory=dict)
    #: Room state by (room, event type, state key): (sender, content), as a homeserver keeps it.
    state: dict[tuple[str, str, str], tuple[UserId, dict[str, Any]]] = field(default_factory=dict)
    #: Every state event the bot sent, in order: (room, event type, state key, content).
    state_sent: list[tuple[RoomId, str, str, dict[str, Any]]] = field(default_factory=list)
    #: Rooms where the bot lacks the power to send state.
    no_state_power: set[str] = field(default_factory=set)
    #: Polls started (room, poll, event id) and ended (room, poll, result text, counts).
    polls: list[tuple[RoomId, Poll, EventId]] = field(default_factory=list)
    poll_ends: list[tuple[RoomId, EventId, str, dict[str, int]]] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _txns: dict[str, EventId] = field(default_factory=dict)

    @property
    def own_user_id(self) -> UserId:
        return BOT

    @property
    def server_name(self) -> str:
        return self.config.matrix.server_name

    def permalink(self, room_id: RoomId, event_id: EventId | None = None) -> str:
        return f"https://matrix.to/#/{room_id}/{event_id}" if event_id else f"https://matrix.to/#/{room_id}"

    def user_permalink(self, user_id: UserId) -> str:
        return f"https://matrix.to/#/{user_id}"

    # The life cycle the app drives; the fake has nothing to connect to.
    last_sync_ok: datetime | None = None

    async def connect(self) -> None:
        return None

    async def setup_community(self, room_names: Any, space_name: str) -> None:
        return None

    async def run(self, handler: Any) -> None:
        return None

    async def stop(self) -> None:
        return None

    def _event_id(self) -> EventId:
        return EventId(f"$sent{next(self._ids)}")

    async def send(self, message: OutgoingMessage) -> EventId:
        if message.txn_id and message.txn_id in self._txns:
            return self._txns[message.txn_id]
        self.sent.append(message)
        event_id = self._event_id()
        if message.txn_id:
            self._txns[message.txn_id] = event_id
        return event_id

    async def react(self, room_id: RoomId, event_id: EventId, key: str, txn_id: str | None = None) -> EventId:
        self.reactions.append((room_id, event_id, key))
        return self._event_id()

    async def send_poll(
        self,
        room_id: RoomId,
        poll: Poll,
        fallback_text: str,
        *,
        fallback_html: str | None = None,
        txn_id: str | None = None,
    ) -> EventId:
        # What a client without polls shows is also a message in ``sent``.
        event_id = await self.send(
            OutgoingMessage(room_id=room_id, plain=fallback_text, html=fallback_html, txn_id=txn_id)
        )
        if all(sent_id != event_id for _, _, sent_id in self.polls):
            self.polls.append((room_id, poll, event_id))
        return event_id

    async def end_poll(
        self,
        room_id: RoomId,
        poll_event_id: EventId,
        result_text: str,
        counts: Mapping[str, int],
        *,
        txn_id: str | None = None,
    ) -> EventId:
        self.poll_ends.append((room_id, poll_event_id, result_text, dict(counts)))
        return await self.send(OutgoingMessage(room_id=room_id, plain=result_text, txn_id=txn_id))

    async def upload(self, upload: Upload) -> EventId:
        self.uploads.append(upload)
        event_id = self._event_id()
        sent = SentFile(event_id, upload.filename, self.clock.now(), f"mxc://localhost/{event_id.strip('$')}")
        self.files[event_id] = (upload.room_id, sent)
        return event_id

    async def redact(self, room_id: RoomId, event_id: EventId, reason: str | None = None) -> None:
        self.redactions.append((room_id, event_id, reason))
        self.files.pop(event_id, None)

    async def files_sent(self, room_id: RoomId) -> list[SentFile]:
        return [sent for room, sent in self.files.values() if room == room_id]

    async def member_data(self, user_id: UserId) -> dict[str, Any]:
        return dict(self.member_records.get(user_id, {}))

    async def forget_member(self, user_id: UserId) -> int:
        self.forgotten_members.append(user_id)
        return len(self.member_records.pop(user_id, {}))

    async def direct_room(self, user_id: UserId) -> RoomId:
        return RoomId(f"!dm-{user_id.strip('@').split(':')[0]}")

    async def forget_direct_room(self, user_id: UserId) -> None:
        self.forgotten_direct_rooms.append(user_id)

    async def create_room(self, spec: RoomSpec) -> RoomId:
        return RoomId(f"!created{next(self._ids)}")

    async def power_level(self, room_id: RoomId, user_id: UserId) -> int:
        return self.levels.get((room_id, user_id), 0)

    async def is_direct(self, room_id: RoomId) -> bool:
        return room_id.startswith("!dm-")

    async def room_members(self, room_id: RoomId) -> list[UserId]:
        return [BOT]

    async def read_room_state(self, room_id: RoomId, event_type: str) -> RoomStateOfType:
        found = [
            RoomStateEvent(key, sender, content)
            for (room, kind, key), (sender, content) in self.state.items()
            if room == room_id and kind == event_type
        ]
        return RoomStateOfType(found, may_send=room_id not in self.no_state_power)

    async def publish_room_state(
        self, room_id: RoomId, event_type: str, state_key: str, content: Mapping[str, Any]
    ) -> EventId:
        if room_id in self.no_state_power:
            raise AssertionError(f"the bot may not send state in {room_id}")
        self.state[(room_id, event_type, state_key)] = (BOT, dict(content))
        self.state_sent.append((room_id, event_type, state_key, dict(content)))
        return self._event_id()

    def texts(self) -> list[str]:
        return [m.plain for m in self.sent]

    def last(self) -> str:
        return self.sent[-1].plain


def make_config(tmp_path: Path, **overrides: Any) -> Config:
    raw: dict[str, Any] = {
        "matrix": {"homeserver": "http://127.0.0.1:1", "user_id": str(BOT), "password": "x"},
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'kennisbrug.db'}"},
        "community": {"name": "Kennisbrug", "admins": [str(ALICE)], "allowed_homeservers": ["localhost"]},
        "rooms": {"welcome": "#welkom:localhost", "events": "#bijeenkomsten:localhost"},
        "themes": [
            {
                "key": "buikpijndossiers",
                "room": "#buikpijn:localhost",
                "name": {"nl": "Buikpijndossiers", "en": "Complex cases"},
            }
        ],
    }
    for key, value in overrides.items():
        raw[key] = value
    return parse_config(raw, tmp_path / "config.yaml", env={})


_counter = itertools.count(1)


def message(
    body: str,
    sender: UserId = BOB,
    room: str = "!welcome",
    is_direct: bool = False,
    thread_root: str | None = None,
    at: datetime | None = None,
    backlog: bool | None = None,
    mentions: tuple[UserId, ...] = (),
    command: StructuredCommand | None = None,
) -> IncomingMessage:
    """A member's message; ``at`` is when they sent it (now, by the real clock, if not given).

    Without ``at`` it counts as backlog (sent while the bot was down), so tests that send
    many commands at a standing fake clock are not throttled; flood tests give ``at``."""
    return IncomingMessage(
        event_id=EventId(f"$in{next(_counter)}"),
        room_id=RoomId(room),
        sender=sender,
        body=body,
        timestamp=at or datetime.now(UTC),
        is_direct=is_direct,
        thread_root=EventId(thread_root) if thread_root else None,
        backlog=(at is None) if backlog is None else backlog,
        mentions=mentions,
        command=command,
    )


#: Flood control opened wide: test members answer faster than people do.
OPEN_FLOOD = {"burst": 10_000, "seconds_per_command": 0.001}
#: Nudges at any hour and within a generous budget.
ANY_HOUR_NUDGES = {"weekly_budget": 10, "quiet_hours": "00:00-00:00", "quiet_weekends": False}


async def quick_app(tmp_path: Path, clock: Clock, db_url: str, rooms: dict[str, str], **sections: Any) -> Any:
    """A real app behind the recording transport, flood control open, the given
    logical rooms set; ``sections`` add or override config sections."""
    from bot.app import build_app

    config = make_config(tmp_path, database={"url": db_url}, flood=OPEN_FLOOD, **sections)
    built = await build_app(config, clock=clock, transport_factory=FakeTransport)
    for name, room in rooms.items():
        built.services.rooms.set(name, RoomId(room))
    return built
