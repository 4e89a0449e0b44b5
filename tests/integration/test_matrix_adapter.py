"""The Matrix transport against a real Synapse, with members played by real nio clients.

One homeserver serves the whole module; every test starts its own bot (a fresh
database unless the story is about restarting), so the tests do not depend on each
other's order. The first test that sets up the community creates the rooms; later
set-ups find them.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
import pytest_asyncio
from nio import (
    AsyncClient,
    JoinResponse,
    LoginResponse,
    RoomCreateResponse,
    RoomGetEventResponse,
    RoomGetStateEventResponse,
    RoomGetStateResponse,
    RoomMessagesResponse,
    RoomSendResponse,
)
from sqlalchemy import select

from bot.clock import SystemClock
from bot.config import Config, parse_config
from bot.devtools.synapse import LocalSynapse, SynapseOptions
from bot.errors import InvalidCredentials
from bot.ids import EventId, RoomId, UserId
from bot.matrix import MatrixTransport
from bot.matrix import state as matrix_state
from bot.room_directory import RoomDirectory
from bot.storage.database import Database
from bot.storage.models import Base, ProcessedEvent
from bot.transport import (
    IncomingEvent,
    IncomingMessage,
    IncomingReaction,
    MemberJoined,
    OutgoingMessage,
    RoomSpec,
    Upload,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

BOT = "@kennisbrug:localhost"
BOT_PASSWORD = "bot-wachtwoord"
ADMIN = "@beheerder:localhost"
MODERATOR = "@moderator:localhost"
SERVER_ADMIN = "@serverbeheer:localhost"
PASSWORD = "lid-wachtwoord"
WELCOME = "#welkom:localhost"
QUESTIONS = "#vragen:localhost"
THEME = "#verzuim:localhost"
SPACE = "#kennisbrug:localhost"
ROOM_NAMES = {
    "welcome": ("Welkom", "Begin hier"),
    "questions": ("Vragen", "Stel je vraag"),
    "theme:verzuim": ("Verzuim", "Over verzuim"),
}
WAIT_S = 15.0

T = TypeVar("T")


# ----------------------------------------------------------------------- fixtures


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hs(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalSynapse]:
    server = LocalSynapse(SynapseOptions(data_dir=tmp_path_factory.mktemp("synapse")))
    await server.start()
    try:
        await server.register_user("kennisbrug", BOT_PASSWORD)
        await server.register_user("beheerder", PASSWORD)
        await server.register_user("moderator", PASSWORD)
        await server.register_user("serverbeheer", PASSWORD, admin=True)
        yield server
    finally:
        await server.stop()


def make_config(hs: LocalSynapse, **matrix: Any) -> Config:
    raw: dict[str, Any] = {
        "matrix": {
            "homeserver": hs.base_url,
            "user_id": BOT,
            "password": BOT_PASSWORD,
            # The members here are plain clients; encrypted DMs are tested in test_encryption.py.
            "encrypt_private_rooms": False,
            **matrix,
        },
        "community": {"admins": [ADMIN], "moderators": [MODERATOR]},
        "rooms": {"welcome": WELCOME, "questions": QUESTIONS},
        "themes": [{"key": "verzuim", "room": THEME, "name": "Verzuim"}],
    }
    return parse_config(raw, Path("test.yaml"), env={})


async def new_database(path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{path}")
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    return db


@pytest_asyncio.fixture(loop_scope="module")
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await new_database(tmp_path / "bot.db")
    yield database
    await database.dispose()


class Recorder:
    """The core's event handler in these tests: keeps everything it is given."""

    def __init__(self) -> None:
        self.events: list[IncomingEvent] = []
        self._changed = asyncio.Event()

    async def __call__(self, event: IncomingEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def messages(self) -> list[IncomingMessage]:
        return [e for e in self.events if isinstance(e, IncomingMessage)]

    async def wait_for(
        self, predicate: Callable[[IncomingEvent], bool], timeout: float = WAIT_S
    ) -> IncomingEvent:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if predicate(event):
                    return event
            self._changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching event in {len(self.events)} received events")
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass

    async def wait_message(self, body: str) -> IncomingMessage:
        event = await self.wait_for(lambda e: isinstance(e, IncomingMessage) and e.body == body)
        assert isinstance(event, IncomingMessage)
        return event

    async def barrier(self, client: AsyncClient, room_id: str) -> EventId:
        """Say a marker in ``room_id`` and wait until it is handed over; returns its id.

        Instead of sleeping for a double to show up: the transport hands a room's events
        over one at a time in timeline order, so once the marker is here, everything
        before it in the room (a double included) has been handed over too.
        """
        marker = f"barriere {secrets.token_hex(4)}"
        event_id = await say(client, room_id, marker)
        await self.wait_message(marker)
        return event_id


@dataclass
class RunningBot:
    transport: MatrixTransport
    rooms: RoomDirectory
    recorder: Recorder
    task: asyncio.Task[None]

    async def stop(self) -> None:
        await self.transport.stop()
        await asyncio.wait_for(self.task, 15)


async def start_bot(config: Config, db: Database, recorder: Recorder | None = None) -> RunningBot:
    rooms = RoomDirectory()
    transport = MatrixTransport(config, db, SystemClock(), rooms)
    await transport.connect()
    await transport.setup_community(ROOM_NAMES, "Kennisbrug")
    recorder = recorder or Recorder()
    task = asyncio.create_task(transport.run(recorder))
    await transport.wait_until_synced(timeout=WAIT_S)
    return RunningBot(transport, rooms, recorder, task)


@pytest_asyncio.fixture(loop_scope="module")
async def bot(hs: LocalSynapse, db: Database) -> AsyncIterator[RunningBot]:
    running = await start_bot(make_config(hs), db)
    yield running
    await running.stop()


_member_counter = 0


async def new_member(hs: LocalSynapse, name: str = "lid") -> AsyncClient:
    """A freshly registered member, logged in with a nio client."""
    global _member_counter
    _member_counter += 1
    localpart = f"{name}{_member_counter}"
    user_id = await hs.register_user(localpart, PASSWORD)
    client = AsyncClient(hs.base_url, user_id)
    resp = await client.login(PASSWORD)
    assert isinstance(resp, LoginResponse), resp
    return client


@pytest_asyncio.fixture(loop_scope="module")
async def member(hs: LocalSynapse) -> AsyncIterator[AsyncClient]:
    client = await new_member(hs)
    yield client
    await client.close()


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = WAIT_S) -> T:
    """Poll ``probe`` until it returns something other than None."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


async def join(client: AsyncClient, room: str) -> RoomId:
    resp = await client.join(room)
    assert isinstance(resp, JoinResponse), resp
    return RoomId(resp.room_id)


async def say(client: AsyncClient, room_id: str, body: str, **extra: Any) -> EventId:
    content = {"msgtype": "m.text", "body": body, **extra}
    resp = await client.room_send(room_id, "m.room.message", content)
    assert isinstance(resp, RoomSendResponse), resp
    return EventId(resp.event_id)


async def event_content(client: AsyncClient, room_id: str, event_id: str) -> dict[str, Any]:
    resp = await client.room_get_event(room_id, event_id)
    assert isinstance(resp, RoomGetEventResponse), resp
    content: dict[str, Any] = resp.event.source["content"]
    return content


async def membership(client: AsyncClient, room_id: str, user_id: str) -> str | None:
    resp = await client.room_get_state_event(room_id, "m.room.member", user_id)
    if isinstance(resp, RoomGetStateEventResponse):
        value = resp.content.get("membership")
        return value if isinstance(value, str) else None
    return None


async def membership_is(client: AsyncClient, room_id: str, user_id: str, wanted: str) -> bool | None:
    return True if await membership(client, room_id, user_id) == wanted else None


async def left_in_bots_sync(bot: RunningBot, room_id: str, user_id: str) -> bool | None:
    room = bot.transport._client.rooms.get(room_id)
    return True if room is not None and user_id not in room.users else None


async def bot_observer(hs: LocalSynapse) -> AsyncClient:
    """A second login of the bot account, to look at what the transport did."""
    client = AsyncClient(hs.base_url, BOT)
    resp = await client.login(BOT_PASSWORD, device_name="test observer")
    assert isinstance(resp, LoginResponse), resp
    return client


async def state_event_ids(client: AsyncClient, room_id: str) -> set[str]:
    resp = await client.room_get_state(room_id)
    assert isinstance(resp, RoomGetStateResponse), resp
    return {e["event_id"] for e in resp.events}


# -------------------------------------------------------------------------- tests


async def test_setup_creates_space_and_rooms_and_a_second_setup_changes_nothing(
    hs: LocalSynapse, db: Database
) -> None:
    config = make_config(hs)
    rooms = RoomDirectory()
    transport = MatrixTransport(config, db, SystemClock(), rooms)
    await transport.connect()
    await transport.setup_community(ROOM_NAMES, "Kennisbrug")
    observer = await bot_observer(hs)
    try:
        assert set(rooms.by_name) == {"welcome", "questions", "theme:verzuim"}
        assert rooms.space_id is not None
        space_id = rooms.space_id
        for alias, logical in ((WELCOME, "welcome"), (QUESTIONS, "questions"), (THEME, "theme:verzuim")):
            resolved = await observer.room_resolve_alias(alias)
            assert getattr(resolved, "room_id", None) == rooms.room_id(logical)
        assert getattr(await observer.room_resolve_alias(SPACE), "room_id", None) == space_id

        space_state = await observer.room_get_state(space_id)
        assert isinstance(space_state, RoomGetStateResponse)
        create = next(e for e in space_state.events if e["type"] == "m.room.create")
        assert create["content"].get("type") == "m.space"
        children = {
            e["state_key"] for e in space_state.events if e["type"] == "m.space.child" and e["content"]
        }
        assert children == set(rooms.community_rooms())
        for room_id in rooms.community_rooms():
            parent = await observer.room_get_state_event(room_id, "m.space.parent", space_id)
            assert isinstance(parent, RoomGetStateEventResponse) and parent.content["via"] == ["localhost"]

        welcome = rooms.room_id("welcome")
        assert welcome is not None
        name = await observer.room_get_state_event(welcome, "m.room.name")
        assert isinstance(name, RoomGetStateEventResponse) and name.content["name"] == "Welkom"
        assert await membership(observer, welcome, ADMIN) in ("invite", "join")
        assert await transport.power_level(welcome, UserId(ADMIN)) == 100
        assert await transport.power_level(welcome, UserId(MODERATOR)) == 50
        assert await transport.power_level(welcome, UserId("@niemand:localhost")) == 0
        assert await transport.power_level(welcome, transport.own_user_id) >= 100

        joined_before = await observer.joined_rooms()
        state_before = {room_id: await state_event_ids(observer, room_id) for room_id in [space_id, welcome]}
        await transport.stop()

        again_rooms = RoomDirectory()
        again = MatrixTransport(config, db, SystemClock(), again_rooms)
        await again.connect()
        await again.setup_community(ROOM_NAMES, "Kennisbrug")
        await again.stop()
        assert again_rooms.by_name == rooms.by_name
        assert again_rooms.space_id == space_id
        joined_after = await observer.joined_rooms()
        assert sorted(getattr(joined_after, "rooms", [])) == sorted(getattr(joined_before, "rooms", []))
        for room_id, before in state_before.items():
            assert await state_event_ids(observer, room_id) == before
    finally:
        await observer.close()


async def test_member_joins_and_speaks_and_each_event_arrives_once(hs: LocalSynapse, bot: RunningBot) -> None:
    newcomer = await new_member(hs, "nieuw")
    try:
        welcome = await join(newcomer, WELCOME)
        assert welcome == bot.rooms.room_id("welcome")
        joined = await bot.recorder.wait_for(
            lambda e: isinstance(e, MemberJoined) and e.user_id == newcomer.user_id
        )
        assert isinstance(joined, MemberJoined) and joined.room_id == welcome

        first = await say(newcomer, welcome, "hallo allemaal")
        # Things the bot must not act on: a notice (other bots), an edit, a broken body.
        await newcomer.room_send(welcome, "m.room.message", {"msgtype": "m.notice", "body": "ik ben een bot"})
        await newcomer.room_send(
            welcome,
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": "* hallo iedereen",
                "m.new_content": {"msgtype": "m.text", "body": "hallo iedereen"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": first},
            },
        )
        await newcomer.room_send(welcome, "m.room.message", {"msgtype": "m.text", "body": 42})
        await newcomer.room_send(welcome, "m.room.message", {"msgtype": "m.text"})
        reply = await say(
            newcomer,
            welcome,
            f"> <{newcomer.user_id}> hallo allemaal\n\nen nog een vraag",
            **{"m.relates_to": {"m.in_reply_to": {"event_id": first}}},
        )

        message = await bot.recorder.wait_message("hallo allemaal")
        assert message.event_id == first
        assert message.sender == newcomer.user_id
        assert message.room_id == welcome
        assert message.is_direct is False
        assert message.thread_root is None and message.reply_to is None

        answer = await bot.recorder.wait_message("en nog een vraag")
        assert answer.event_id == reply and answer.reply_to == first

        marker = await bot.recorder.barrier(newcomer, welcome)
        ids = [m.event_id for m in bot.recorder.messages() if m.event_id != marker]
        assert ids == [first, reply]
        joins = [
            e for e in bot.recorder.events if isinstance(e, MemberJoined) and e.user_id == newcomer.user_id
        ]
        assert len(joins) == 1
    finally:
        await newcomer.close()


async def test_bot_sends_notice_with_html_and_mentions_once_per_txn(
    bot: RunningBot, member: AsyncClient
) -> None:
    welcome = await join(member, WELCOME)
    assert member.user_id
    message = OutgoingMessage(
        room_id=welcome,
        plain="Welkom lid!",
        html="<p>Welkom <strong>lid</strong>!</p>",
        mentions=[UserId(member.user_id)],
        txn_id="welcome:greeting:1",
    )
    first = await bot.transport.send(message)
    second = await bot.transport.send(message)
    assert first == second

    content = await event_content(member, welcome, first)
    assert content["msgtype"] == "m.notice"
    assert content["body"] == "Welkom lid!"
    assert content["format"] == "org.matrix.custom.html"
    assert content["formatted_body"] == "<p>Welkom <strong>lid</strong>!</p>"
    assert content["m.mentions"] == {"user_ids": [member.user_id]}

    history = await member.room_messages(welcome, limit=50)
    assert isinstance(history, RoomMessagesResponse)
    assert [e.event_id for e in history.chunk].count(first) == 1
    assert sum(1 for e in history.chunk if e.source.get("content", {}).get("body") == "Welkom lid!") == 1

    plain = await bot.transport.send(OutgoingMessage(room_id=welcome, plain="Gewoon tekst", notice=False))
    content = await event_content(member, welcome, plain)
    assert content["msgtype"] == "m.text"
    assert content["m.mentions"] == {"user_ids": []}
    assert "formatted_body" not in content

    await bot.recorder.barrier(member, welcome)  # after the bot's own messages in the room
    assert all(m.sender != BOT for m in bot.recorder.messages())  # the bot ignores itself


async def test_upload_posts_a_file_in_a_thread(bot: RunningBot, member: AsyncClient) -> None:
    welcome = await join(member, WELCOME)
    root = await say(member, welcome, "agenda graag")
    calendar = Upload(
        room_id=welcome,
        data=b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
        filename="bijeenkomst.ics",
        content_type="text/calendar",
        thread_root=root,
        txn_id="upload:agenda:1",
    )
    event_id = await bot.transport.upload(calendar)
    assert await bot.transport.upload(calendar) == event_id
    content = await event_content(member, welcome, event_id)
    assert content["msgtype"] == "m.file"
    assert content["body"] == "bijeenkomst.ics"
    assert content["url"].startswith("mxc://localhost/")
    assert content["info"] == {"mimetype": "text/calendar", "size": len(calendar.data)}
    assert content["m.relates_to"]["rel_type"] == "m.thread" and content["m.relates_to"]["event_id"] == root


async def test_create_room_in_the_space_with_power_levels(hs: LocalSynapse, bot: RunningBot) -> None:
    buddy = await new_member(hs, "maatje")
    try:
        assert buddy.user_id
        spec = RoomSpec(
            alias_localpart="maatjes-1",
            name="Maatjes",
            topic="Jullie eigen kamer",
            invite=[UserId(buddy.user_id)],
            power_users={buddy.user_id: 50},
        )
        room_id = await bot.transport.create_room(spec)
        assert bot.rooms.is_known(room_id)
        assert await bot.transport.create_room(spec) == room_id  # the alias exists: same room
        assert await join(buddy, room_id) == room_id
        assert await bot.transport.power_level(room_id, UserId(buddy.user_id)) == 50
        assert await bot.transport.is_direct(room_id) is False
        assert bot.rooms.space_id is not None
        parent = await buddy.room_get_state_event(room_id, "m.space.parent", bot.rooms.space_id)
        assert isinstance(parent, RoomGetStateEventResponse) and parent.content["via"] == ["localhost"]

        said = await say(buddy, room_id, "hoi maatje")
        assert (await bot.recorder.wait_message("hoi maatje")).event_id == said
    finally:
        await buddy.close()


async def test_threads_and_reactions_both_ways(bot: RunningBot, member: AsyncClient) -> None:
    welcome = await join(member, WELCOME)
    root = await say(member, welcome, "wie weet iets over re-integratie?")
    await bot.recorder.wait_message("wie weet iets over re-integratie?")

    reply = await bot.transport.send(OutgoingMessage(room_id=welcome, plain="In de draad!", thread_root=root))
    relates = (await event_content(member, welcome, reply))["m.relates_to"]
    assert relates["rel_type"] == "m.thread"
    assert relates["event_id"] == root
    assert relates["is_falling_back"] is True
    assert relates["m.in_reply_to"] == {"event_id": root}

    in_thread = await say(
        member,
        welcome,
        "dank je",
        **{
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": root,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": reply},
            }
        },
    )
    threaded = await bot.recorder.wait_message("dank je")
    assert threaded.event_id == in_thread
    assert threaded.thread_root == root and threaded.reply_to is None

    reaction = await member.room_send(
        welcome, "m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": reply, "key": "👍"}}
    )
    assert isinstance(reaction, RoomSendResponse)
    added = await bot.recorder.wait_for(lambda e: isinstance(e, IncomingReaction) and not e.removed)
    assert isinstance(added, IncomingReaction)
    assert (added.event_id, added.target_event_id, added.key, added.sender) == (
        reaction.event_id,
        reply,
        "👍",
        member.user_id,
    )

    redaction = await member.room_redact(welcome, reaction.event_id)
    assert hasattr(redaction, "event_id"), redaction
    removed = await bot.recorder.wait_for(lambda e: isinstance(e, IncomingReaction) and e.removed)
    assert isinstance(removed, IncomingReaction)
    assert (removed.target_event_id, removed.key, removed.sender) == (reply, "👍", member.user_id)

    own = await bot.transport.react(welcome, root, "✅", txn_id="react:root:1")
    relates = (await event_content(member, welcome, own))["m.relates_to"]
    assert relates == {"rel_type": "m.annotation", "event_id": root, "key": "✅"}
    assert await bot.transport.react(welcome, root, "✅", txn_id="react:root:1") == own


async def test_member_opens_a_direct_chat_and_the_bot_answers_there(
    bot: RunningBot, member: AsyncClient
) -> None:
    assert member.user_id
    created = await member.room_create(is_direct=True, invite=[BOT])
    assert isinstance(created, RoomCreateResponse), created
    dm = RoomId(created.room_id)
    early = await say(member, dm, "ben je er al?")  # typed before the bot accepted the invite
    await eventually(lambda: membership_is(member, dm, BOT, "join"))

    sent = await say(member, dm, "hoi, kun je me helpen?")
    message = await bot.recorder.wait_message("hoi, kun je me helpen?")
    assert message.event_id == sent and message.room_id == dm
    assert message.is_direct is True
    first = await bot.recorder.wait_message("ben je er al?")
    assert first.event_id == early and first.is_direct is True
    assert [m.event_id for m in bot.recorder.messages() if m.room_id == dm] == [early, sent]
    assert await bot.transport.is_direct(dm) is True
    assert await bot.transport.is_direct(RoomId(bot.rooms.room_id("welcome") or "")) is False
    assert await bot.transport.direct_room(UserId(member.user_id)) == dm
    assert sorted(await bot.transport.room_members(dm)) == sorted([BOT, member.user_id])


async def test_bot_creates_a_direct_chat_when_there_is_none(hs: LocalSynapse, bot: RunningBot) -> None:
    other = await new_member(hs, "ander")
    try:
        assert other.user_id
        dm = await bot.transport.direct_room(UserId(other.user_id))
        assert await bot.transport.direct_room(UserId(other.user_id)) == dm
        assert await bot.transport.is_direct(dm) is True
        joined = await other.join(dm)  # works because the bot invited them
        assert isinstance(joined, JoinResponse), joined
        event_id = await bot.transport.send(OutgoingMessage(room_id=dm, plain="Hallo!"))
        assert (await event_content(other, dm, event_id))["body"] == "Hallo!"
        # The member is no plain member of the DM: they are no room creator either.
        assert await bot.transport.power_level(dm, UserId(other.user_id)) == 0

        # The bot's m.direct account data lists the room, so clients show it as a DM.
        observer = await bot_observer(hs)
        try:
            direct = await observer.list_direct_rooms()
            assert dm in getattr(direct, "rooms", {}).get(other.user_id, [])
        finally:
            await observer.close()

        # After the member left, the bot invites them back into the same room, once its
        # sync has shown the leave (a DM checked before is trusted until then).
        await other.room_leave(dm)
        await eventually(lambda: left_in_bots_sync(bot, dm, str(other.user_id)))
        assert await bot.transport.direct_room(UserId(other.user_id)) == dm
        assert isinstance(await other.join(dm), JoinResponse)
    finally:
        await other.close()


async def test_invite_to_an_unknown_group_room_is_declined(bot: RunningBot, member: AsyncClient) -> None:
    created = await member.room_create(name="Zomaar een kamer", invite=[BOT])
    assert isinstance(created, RoomCreateResponse), created
    await eventually(lambda: membership_is(member, created.room_id, BOT, "leave"))


async def test_restart_does_not_deliver_history_again(
    hs: LocalSynapse, db: Database, member: AsyncClient
) -> None:
    config = make_config(hs)
    first = await start_bot(config, db)
    welcome = await join(member, WELCOME)
    before = await say(member, welcome, "voor de herstart")
    await first.recorder.wait_message("voor de herstart")
    await first.stop()

    second = await start_bot(config, db)
    try:
        after = await say(member, welcome, "na de herstart")
        message = await second.recorder.wait_message("na de herstart")
        assert message.event_id == after
        assert before not in [m.event_id for m in second.recorder.messages()]
        assert all(m.event_id != before for m in second.recorder.messages())
    finally:
        await second.stop()


async def test_messages_sent_while_the_bot_was_down_arrive_once_in_order(
    hs: LocalSynapse, db: Database, member: AsyncClient
) -> None:
    config = make_config(hs, timeline_limit=10)  # Synapse then sends only the last 10
    first = await start_bot(config, db)
    welcome = await join(member, WELCOME)
    await first.stop()

    sent = [await say(member, welcome, f"bericht {i} tijdens de storing") for i in range(15)]

    second = await start_bot(config, db)
    try:
        await second.recorder.wait_message("bericht 14 tijdens de storing")
        marker = await second.recorder.barrier(member, welcome)  # a repeat would be before it
        received = [m.event_id for m in second.recorder.messages() if m.event_id != marker]
        assert received == sent
    finally:
        await second.stop()


class Clumsy(Recorder):
    """A handler that fails on one message, as a buggy feature would."""

    async def __call__(self, event: IncomingEvent) -> None:
        await super().__call__(event)
        if isinstance(event, IncomingMessage) and event.body == "boem":
            raise RuntimeError("a feature crashed")


async def test_a_failing_handler_is_recorded_and_does_not_stop_the_bot(
    hs: LocalSynapse, db: Database, member: AsyncClient
) -> None:
    running = await start_bot(make_config(hs), db, Clumsy())
    welcome = await join(member, WELCOME)
    try:
        crash = await say(member, welcome, "boem")
        fine = await say(member, welcome, "gaat het nog?")
        await running.recorder.wait_message("gaat het nog?")
    finally:
        await running.stop()
    assert not running.task.cancelled() and running.task.exception() is None
    async with db.session() as session:
        statuses = {
            row.event_id: row.status
            for row in (await session.execute(select(ProcessedEvent))).scalars()
            if row.event_id in (crash, fine)
        }
    assert statuses == {crash: "failed", fine: "done"}


async def test_a_rejected_stored_token_without_password_stops_with_invalid_credentials(
    hs: LocalSynapse, db: Database
) -> None:
    await matrix_state.save(
        db,
        {
            matrix_state.ACCESS_TOKEN: "syt_niet_geldig",
            matrix_state.USER_ID: BOT,
            matrix_state.DEVICE_ID: "X",
        },
    )
    no_password = make_config(hs, password=None, access_token="syt_ook_niet_geldig")
    transport = MatrixTransport(no_password, db, SystemClock(), RoomDirectory())
    with pytest.raises(InvalidCredentials):
        await transport.connect()
    await transport.stop()

    # With a password the bot logs in once and stores the new token.
    await matrix_state.save(db, {matrix_state.ACCESS_TOKEN: "syt_niet_geldig", matrix_state.USER_ID: BOT})
    transport = MatrixTransport(make_config(hs), db, SystemClock(), RoomDirectory())
    await transport.connect()
    await transport.stop()
    stored = await matrix_state.load(db, matrix_state.ACCESS_TOKEN)
    assert stored[matrix_state.ACCESS_TOKEN] != "syt_niet_geldig"


async def test_sends_wait_out_the_homeservers_rate_limit(hs: LocalSynapse, bot: RunningBot) -> None:
    admin = await hs.login(SERVER_ADMIN, PASSWORD)
    url = f"{hs.base_url}/_synapse/admin/v1/users/{BOT}/override_ratelimit"
    headers = {"Authorization": f"Bearer {admin['access_token']}"}
    welcome = bot.rooms.room_id("welcome")
    assert welcome is not None
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"messages_per_second": 2, "burst_count": 2}, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
        try:
            started = time.monotonic()
            ids = [
                await bot.transport.send(
                    OutgoingMessage(room_id=welcome, plain=f"snel {i}", txn_id=f"rate:{i}")
                )
                for i in range(6)
            ]
            assert len(set(ids)) == 6
            assert time.monotonic() - started > 0.5  # the homeserver really throttled us
        finally:
            async with http.delete(url, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
