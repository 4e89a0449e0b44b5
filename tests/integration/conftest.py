"""A real Synapse for the whole test session, real matrix-nio members, and the bot.

The homeserver starts once per session on a free loopback port. Each test gets a bot
with its own database; members are ordinary matrix-nio clients that send commands and
wait for what the bot answers, as people would.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinError,
    LoginError,
    MegolmEvent,
    RoomKeyRequest,
    RoomMessageNotice,
    RoomMessageText,
    RoomSendError,
)

from bot.app import App
from bot.clock import Clock
from bot.config import Config, parse_config
from bot.devtools.synapse import LocalSynapse, SynapseOptions
from bot.ids import RoomId, UserId
from bot.transport import OutgoingMessage

SERVER = "localhost"
_unique = itertools.count(1)


@dataclass
class Accounts:
    passwords: dict[str, str] = field(default_factory=dict)

    def user_id(self, localpart: str) -> str:
        return f"@{localpart}:{SERVER}"


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSynapse]:
    hs = LocalSynapse(SynapseOptions(data_dir=tmp_path_factory.mktemp("synapse")))
    asyncio.run(hs.start())
    try:
        yield hs
    finally:
        asyncio.run(hs.stop())


@pytest.fixture(scope="session")
def accounts(synapse: LocalSynapse) -> Accounts:
    result = Accounts()

    async def register() -> None:
        for name in ("kennisbrug", "alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank", "ivy"):
            password = secrets.token_urlsafe(10)
            await synapse.register_user(name, password, admin=False)
            result.passwords[name] = password

    asyncio.run(register())
    return result


def bot_config_dict(synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str) -> dict[str, Any]:
    """A bot config whose rooms are unique to ``tag``, so tests do not see each other."""
    return {
        "matrix": {
            "homeserver": synapse.base_url,
            "user_id": accounts.user_id("kennisbrug"),
            "password": accounts.passwords["kennisbrug"],
            "device_name": f"kennisbrug-{tag}",
            "sync_timeout_ms": 10_000,
            # Publishing ~120 command descriptions at every start is tested on its own
            # (test_command_descriptions.py); elsewhere it would only add load.
            "command_descriptions": False,
        },
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"},
        "community": {
            "name": "Kennisbrug",
            "admins": [accounts.user_id("alice")],
            "allowed_homeservers": [SERVER],
            "space": f"#space-{tag}:{SERVER}",
        },
        "rooms": {"welcome": f"#welkom-{tag}:{SERVER}", "questions": f"#vragen-{tag}:{SERVER}"},
        "themes": [
            {
                "key": "buikpijndossiers",
                "room": f"#buikpijn-{tag}:{SERVER}",
                "name": {"nl": "Buikpijndossiers", "en": "Complex cases"},
            }
        ],
    }


class BotRunner:
    """The bot in this process, started and stopped like the real service."""

    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock  # an OffsetClock lets a test live "next week"
        self.app: App | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 60) -> None:
        from bot.app import run

        ready = asyncio.Event()

        def keep(app: App) -> None:
            self.app = app

        self.task = asyncio.create_task(run(self.config, ready=ready, clock=self.clock, on_app=keep))
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({self.task, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if self.task.done():
            self.task.result()
        assert ready.is_set(), "the bot did not become ready"

    async def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.task = None


class Member:
    """A member's Matrix client: joins rooms, sends, and waits for the bot's answers."""

    def __init__(self, synapse: LocalSynapse, user_id: str, password: str) -> None:
        self.client = AsyncClient(synapse.base_url, user_id)
        self.password = password
        self.seen: list[Any] = []  # (room_id, event) for every message from others
        self._synced = False

    @property
    def user_id(self) -> str:
        return self.client.user_id

    async def login(self) -> None:
        response = await self.client.login(self.password, device_name=f"test-{next(_unique)}")
        assert not isinstance(response, LoginError), response
        await self.client.sync(timeout=1000, full_state=True)
        self._synced = True

    async def join(self, room: str) -> str:
        response = await self.client.join(room)
        assert not isinstance(response, JoinError), response
        return response.room_id

    async def send(self, room_id: str, body: str, **extra: Any) -> str:
        content = {"msgtype": "m.text", "body": body, **extra}
        response = await self.client.room_send(room_id, "m.room.message", content)
        assert not isinstance(response, RoomSendError), response
        return response.event_id

    async def sync_once(self, timeout_ms: int = 1000) -> None:
        response = await self.client.sync(timeout=timeout_ms, since=self.client.next_batch)
        rooms = getattr(response, "rooms", None)
        if rooms is None:
            return
        for room_id, room in rooms.join.items():
            for event in room.timeline.events:
                if getattr(event, "sender", None) != self.user_id:
                    self.seen.append((room_id, event))

    async def wait_for(
        self, predicate: Callable[[str, Any], bool], timeout: float = 15, count: int = 1
    ) -> list[Any]:
        """Sync until ``count`` events from others match; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            matches = [event for room, event in self.seen if predicate(room, event)]
            if len(matches) >= count:
                return matches
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"waited {timeout}s; saw {len(matches)} of {count} expected events")
            await self.sync_once(int(min(remaining, 2) * 1000))

    def notices(self, room_id: str) -> list[Any]:
        return [e for r, e in self.seen if r == room_id and isinstance(e, RoomMessageNotice)]

    async def ask(self, room_id: str, body: str, timeout: float = 15, **extra: Any) -> Any:
        """Send a command and return the bot's first notice after it."""
        await self.sync_once(100)  # take in what others caused before this command
        before = len(self.notices(room_id))
        await self.send(room_id, body, **extra)
        found = await self.wait_for(
            lambda r, e: r == room_id and isinstance(e, RoomMessageNotice), timeout=timeout, count=before + 1
        )
        return found[before]

    async def close(self) -> None:
        await self.client.close()


async def open_dm(member: Member, bot_user: str) -> str:
    """The member opens a direct chat with the bot; returns it once the bot has joined."""
    created = await member.client.room_create(is_direct=True, invite=[bot_user])
    room_id = created.room_id
    for _ in range(100):  # the bot accepts the invite within a moment
        members = await member.client.joined_members(room_id)
        if bot_user in [m.user_id for m in getattr(members, "members", [])]:
            return room_id
        await asyncio.sleep(0.1)
    raise AssertionError("the bot did not join the direct chat")


class EncryptedMember(Member):
    """A member whose matrix-nio client has encryption on, with its own store in ``store_dir``.

    After every sync it does what ``sync_forever`` would: upload keys, query devices,
    claim one-time keys, send to-device messages. It trusts every device (as Element does
    before verification), so it shares its room keys with the bot without a dialogue.
    Two instances for one user are two devices of the same member.
    """

    def __init__(self, synapse: LocalSynapse, user_id: str, password: str, store_dir: Path) -> None:
        store_dir.mkdir(parents=True, exist_ok=True)
        config = AsyncClientConfig(
            encryption_enabled=True, store_sync_tokens=False, pickle_key=secrets.token_urlsafe(16)
        )
        self.client = AsyncClient(synapse.base_url, user_id, store_path=str(store_dir), config=config)
        self.password = password
        self.seen: list[Any] = []
        self.key_requests: list[RoomKeyRequest] = []  # room key requests other users sent us
        self._synced = False

    async def login(self) -> None:
        response = await self.client.login(self.password, device_name=f"test-e2e-{next(_unique)}")
        assert not isinstance(response, LoginError), response
        await self.keys()
        await self.client.sync(timeout=1000, full_state=True)
        await self.keys()
        self._synced = True

    async def keys(self) -> None:
        client = self.client
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()

    async def join(self, room: str) -> str:
        room_id = await super().join(room)
        # nio encrypts only for rooms it has synced; a send right after joining must work.
        for _ in range(20):
            if room_id in self.client.rooms:
                break
            await self.sync_once(500)
        return room_id

    async def send(self, room_id: str, body: str, **extra: Any) -> str:
        content = {"msgtype": "m.text", "body": body, **extra}
        response = await self.client.room_send(
            room_id, "m.room.message", content, ignore_unverified_devices=True
        )
        assert not isinstance(response, RoomSendError), response
        return response.event_id

    async def sync_once(self, timeout_ms: int = 1000) -> None:
        response = await self.client.sync(timeout=timeout_ms, since=self.client.next_batch)
        for event in getattr(response, "to_device_events", []):
            if isinstance(event, RoomKeyRequest):
                self.key_requests.append(event)
        rooms = getattr(response, "rooms", None)
        if rooms is not None:
            for room_id, room in rooms.join.items():
                for event in room.timeline.events:
                    if getattr(event, "sender", None) != self.user_id:
                        self.seen.append((room_id, event))
        await self.keys()
        self._retry_decryption()

    def _retry_decryption(self) -> None:
        """A room key may arrive a sync after the message it opens (the bot restarted and
        shares a new session); like Element, try such messages again."""
        for index, (room_id, event) in enumerate(self.seen):
            if not isinstance(event, MegolmEvent):
                continue
            try:
                decrypted = self.client.decrypt_event(event)
            except Exception:
                continue
            self.seen[index] = (room_id, decrypted)

    def undecryptable(self) -> list[Any]:
        """Events from others this device could not decrypt."""
        return [e for _room, e in self.seen if isinstance(e, MegolmEvent)]

    async def open_encrypted_dm(self, bot_user: str, timeout: float = 20) -> str:
        """An encrypted direct chat with the bot, once the bot has joined it."""
        created = await self.client.room_create(
            is_direct=True,
            invite=[bot_user],
            initial_state=[
                {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
            ],
        )
        room_id = getattr(created, "room_id", None)
        assert room_id, created
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self.sync_once(500)
            room = self.client.rooms.get(room_id)
            if room is not None and bot_user in room.users and bot_user not in room.invited_users:
                assert room.encrypted
                return room_id
        raise AssertionError(f"the bot did not join the encrypted DM within {timeout}s")


@pytest.fixture
async def encrypted_member_factory(
    synapse: LocalSynapse, accounts: Accounts, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    """``await make("alice")``: a new encrypted device of that member (call twice: two devices)."""
    created: list[EncryptedMember] = []

    async def make(name: str) -> EncryptedMember:
        store = tmp_path / "member-stores" / f"{name}-{len(created)}"
        member = EncryptedMember(synapse, accounts.user_id(name), accounts.passwords[name], store)
        await member.login()
        created.append(member)
        return member

    yield make
    for member in created:
        await member.close()


def answered_event(event: Any) -> str | None:
    """The event a message answers (``m.relates_to.m.in_reply_to``), if any."""
    source = getattr(event, "source", None)
    content = source.get("content", {}) if isinstance(source, dict) else {}
    rel = content.get("m.relates_to") or {}
    target = (rel.get("m.in_reply_to") or {}).get("event_id") if isinstance(rel, dict) else None
    return target if isinstance(target, str) else None


async def barrier(member: Member, room_id: str, body: str = "!taal", timeout: float = 30) -> Any:
    """Send a cheap command in ``room_id`` and wait for the bot's answer to it; returns it.

    Instead of sleeping "long enough" for a doubled answer to show up: the bot handles
    a room's events one at a time in timeline order and sends an event's answers before
    it takes the next one (``bot.matrix.sync``). So once this command is answered, every
    answer to anything earlier in the room has been sent: a double is in the room's
    history now, and in ``member.seen`` too unless more arrived at once than a sync's
    timeline holds (then read the history). It does not order the outbox (reminders,
    welcomes): see :func:`outbox_barrier`.
    """
    event_id = await member.send(room_id, body)
    [answer] = await member.wait_for(
        lambda r, e: r == room_id and answered_event(e) == event_id, timeout=timeout
    )
    return answer


async def barrier_from_elsewhere(member: Member, room_id: str, timeout: float = 30) -> None:
    """:func:`barrier` for a room where the bot answers nothing, through ``room_id``.

    One barrier in another room is not enough: the bot takes a sync batch room by room,
    so the earlier event may sit in the same batch, in a room handled after it. But
    batches are handled one after the other, and a second command, sent only once the
    first was answered, comes in a later batch than the first. When it is answered,
    the batch with the first command, and with everything sent before it in any room,
    has been handled completely.
    """
    await barrier(member, room_id, timeout=timeout)
    await barrier(member, room_id, timeout=timeout)


async def outbox_barrier(runner: BotRunner, member: Member, timeout: float = 30) -> str:
    """Wait until everything the outbox owed ``member``'s direct chat up to now has arrived.

    The outbox sends a room's due rows one at a time, oldest due first
    (``bot.outbox``). A marker row due now, queued through the bot's own outbox, is
    therefore sent after every row of that room that was due before it: when the member
    sees the marker, a reminder or welcome sent too early or twice would be in
    ``member.seen`` already. Accepts the bot's invite to the chat if it is still open.
    Returns the direct chat's room id.
    """
    assert runner.app is not None, "the bot is not running"
    services = runner.app.services
    room: RoomId = await services.transport.direct_room(UserId(member.user_id))
    marker = f"barrier {secrets.token_hex(6)}"
    await services.outbox.enqueue(
        OutgoingMessage(room_id=room, plain=marker, txn_id=f"test.{marker.replace(' ', '.')}")
    )
    deadline = time.monotonic() + timeout
    while not any(r == room and getattr(e, "body", None) == marker for r, e in member.seen):
        if time.monotonic() > deadline:
            raise AssertionError(f"the outbox did not deliver a marker to {room} within {timeout}s")
        await member.sync_once(1000)
        if room in member.client.invited_rooms:
            await member.join(room)
    return room


def is_text(event: Any) -> bool:
    return isinstance(event, RoomMessageText | RoomMessageNotice)


@pytest.fixture
def tag() -> str:
    return f"t{next(_unique)}{secrets.token_hex(2)}"


@pytest.fixture
def bot_config(synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str) -> Config:
    return parse_config(bot_config_dict(synapse, accounts, tmp_path, tag), tmp_path / "bot.yaml", env={})


@pytest.fixture
async def bot(bot_config: Config) -> AsyncIterator[BotRunner]:
    runner = BotRunner(bot_config)
    await runner.start()
    yield runner
    await runner.stop()


@pytest.fixture
async def member_factory(synapse: LocalSynapse, accounts: Accounts) -> AsyncIterator[Callable[..., Any]]:
    created: list[Member] = []

    async def make(name: str) -> Member:
        member = Member(synapse, accounts.user_id(name), accounts.passwords[name])
        await member.login()
        created.append(member)
        return member

    yield make
    for member in created:
        await member.close()
