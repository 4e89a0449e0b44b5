"""What the room manager and the direct chats keep in memory instead of asking again: a fan-out to hundreds of
members asks the database nothing per member once each DM is known and checked (a
membership change in the DM asks again), and power levels read from the homeserver are
kept until the sync shows new ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.config import Config, parse_config
from bot.ids import RoomId, UserId
from bot.matrix.direct_chat_rooms import DirectChats
from bot.matrix.rooms import RoomManager
from bot.room_directory import RoomDirectory
from bot.storage.database import Database
from bot.storage.models import Base, DirectRoom

MEMBER = UserId("@lid:localhost")
DM = RoomId("!dm:localhost")


class CountingDatabase:
    """The real database, counting the sessions opened on it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sessions = 0

    def session(self) -> Any:
        self.sessions += 1
        return self.db.session()


@pytest_asyncio.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    async with database.transaction() as session:
        session.add(DirectRoom(user_id=MEMBER, room_id=DM, created_at=datetime.now(UTC)))
    yield database
    await database.dispose()


def config(tmp_path: Path) -> Config:
    raw = {
        "matrix": {"homeserver": "http://127.0.0.1:1", "user_id": "@kennisbrug:localhost", "password": "x"},
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"},
        "community": {},
        "rooms": {"welcome": "#welkom:localhost"},
    }
    return parse_config(raw, tmp_path / "config.yaml", env={})


def direct_chats(tmp_path: Path, db: Database | CountingDatabase) -> DirectChats:
    """Direct chats on no homeserver (the tests keep it from being asked)."""
    cfg, directory = config(tmp_path), RoomDirectory()
    rooms = RoomManager(None, cfg, directory)  # type: ignore[arg-type]
    return DirectChats(None, cfg, db, None, directory, rooms)  # type: ignore[arg-type]


@pytest.fixture
def counting(db: Database) -> CountingDatabase:
    return CountingDatabase(db)


async def test_a_checked_dm_is_returned_from_memory(tmp_path: Path, counting: CountingDatabase) -> None:
    rooms = direct_chats(tmp_path, counting)
    rooms._dm_checked.add(DM)  # checked before: only the bot and the member are in it
    assert await rooms.direct_room(MEMBER) == DM
    assert counting.sessions == 1
    for _ in range(5):
        assert await rooms.direct_room(MEMBER) == DM
    assert counting.sessions == 1, "no database read per message once the DM is known"

    # Someone came or went in the DM: the record is read (and the room checked) again.
    checks: list[RoomId] = []

    async def usable(room_id: RoomId, user_id: UserId) -> bool:
        checks.append(room_id)  # asks the homeserver who is in it
        return True

    rooms._dm_usable = usable  # type: ignore[method-assign]
    rooms.note_room_events(DM, [{"type": "m.room.member", "state_key": "@ander:localhost", "content": {}}])
    assert await rooms.direct_room(MEMBER) == DM
    assert (counting.sessions, checks) == (2, [DM])
    assert await rooms.direct_room(MEMBER) == DM
    assert (counting.sessions, checks) == (2, [DM]), "checked again, then from memory again"


def member_event(user: str, membership: str) -> dict[str, Any]:
    return {"type": "m.room.member", "state_key": user, "content": {"membership": membership}}


async def test_lazy_loaded_members_of_the_two_keep_the_dm_checked(tmp_path: Path, db: Database) -> None:
    """A sync carrying the DM's messages carries their senders' member events too (lazy
    loading): no change, no new check; anyone else, or one of the two leaving, is."""
    rooms = direct_chats(tmp_path, db)
    rooms._records.note(DM, MEMBER)
    rooms._dm_checked.add(DM)
    rooms.note_room_events(DM, [member_event("@kennisbrug:localhost", "join"), member_event(MEMBER, "join")])
    assert DM in rooms._dm_checked
    rooms.note_room_events(DM, [member_event("@ander:localhost", "join")])
    assert DM not in rooms._dm_checked
    rooms._dm_checked.add(DM)
    rooms.note_room_events(DM, [member_event(MEMBER, "leave")])
    assert DM not in rooms._dm_checked


class StateReadingClient:
    """A client whose rooms nio has not synced: power levels come from ``/state``."""

    def __init__(self) -> None:
        self.rooms: dict[str, object] = {}
        self.state_reads = 0
        self.moderator_level = 50

    async def room_get_state(self, room_id: str) -> Any:
        from nio import RoomGetStateResponse

        self.state_reads += 1
        levels = {"users": {"@mod:localhost": self.moderator_level}, "users_default": 0}
        events = [{"type": "m.room.power_levels", "state_key": "", "content": levels}]
        return RoomGetStateResponse(events, room_id)


async def test_power_levels_read_from_the_homeserver_are_kept_until_they_change(
    tmp_path: Path, db: Database
) -> None:
    """After a restart's incremental sync the space's state is not in nio's cache; every
    !help checks roles there, and must not read the space's whole state each time."""
    client = StateReadingClient()
    rooms = RoomManager(client, config(tmp_path), RoomDirectory())  # type: ignore[arg-type]
    space = RoomId("!space:localhost")
    for _ in range(3):
        assert await rooms.power_level(space, UserId("@mod:localhost")) == 50
        assert await rooms.power_level(space, MEMBER) == 0
    assert client.state_reads == 1
    client.moderator_level = 0
    rooms.note_room_events(space, [{"type": "m.room.power_levels", "state_key": "", "content": {}}])
    assert await rooms.power_level(space, UserId("@mod:localhost")) == 0
    assert client.state_reads == 2
