"""The adapter's encryption decisions that need no homeserver: settings, which rooms get
encrypted, and the durable list of messages waiting for their keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import ENV_STORE_KEY, Config, default_store_path, parse_config
from bot.errors import ConfigError, TransportError
from bot.ids import RoomId
from bot.matrix.crypto import MAX_PENDING, Crypto, PendingDecryptions, Undecrypted
from bot.matrix.rooms import RoomManager
from bot.matrix.sending import file_content
from bot.room_directory import RoomDirectory
from bot.storage.database import Database
from bot.transport import RoomSpec, Upload

NOW = datetime(2027, 3, 16, 9, 0, tzinfo=UTC)


def raw_config(**matrix: Any) -> dict[str, Any]:
    return {
        "matrix": {
            "homeserver": "http://127.0.0.1:8008",
            "user_id": "@kennisbrug:localhost",
            "password": "x",
            **matrix,
        },
        "database": {"url": "sqlite+aiosqlite:////var/lib/kennisbrug/bot.db"},
        "community": {},
        "rooms": {"welcome": "#welkom:localhost"},
    }


def config(tmp_path: Path, env: dict[str, str] | None = None, **matrix: Any) -> Config:
    return parse_config(raw_config(**matrix), tmp_path / "bot.yaml", env=env or {})


# -------------------------------------------------------------------- settings


def test_encryption_defaults_suit_a_community_bot(tmp_path: Path) -> None:
    m = config(tmp_path).matrix
    assert m.encryption is True
    assert m.trust == "tofu"  # trust on first use; a new device is told to its member
    assert m.encrypt_private_rooms is True
    assert m.encrypt_community_rooms is False
    assert m.store_path == Path("/var/lib/kennisbrug/bot-crypto")  # next to the database
    assert m.store_key is None  # generated once and kept in the database, never nio's default


def test_store_key_comes_from_the_environment_before_the_file(tmp_path: Path) -> None:
    m = config(tmp_path, env={ENV_STORE_KEY: "k" * 32}, store_key="f" * 32).matrix
    assert m.store_key == "k" * 32


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"trust": "some"}, "matrix.trust: 'some' must be one of tofu, all"),
        (
            {"trust": "verified"},
            "matrix.trust: 'verified' is no longer offered (the bot cannot verify devices); use tofu",
        ),
        ({"store_key": "short"}, "matrix.store_key: must be at least 16 characters"),
        ({"encrypt_private_rooms": "ja"}, "matrix.encrypt_private_rooms: 'ja' must be true or false"),
        ({"undecryptable_wait_s": -1}, "matrix.undecryptable_wait_s: -1 must be a number"),
    ],
)
def test_bad_encryption_settings_name_their_key(
    tmp_path: Path, setting: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError) as error:
        config(tmp_path, **setting)
    assert any(expected in problem for problem in error.value.problems), error.value.problems


def test_default_store_path_for_other_databases() -> None:
    assert default_store_path("sqlite+aiosqlite:///data/kennisbrug.db") == Path("data/kennisbrug-crypto")
    assert default_store_path("sqlite+aiosqlite:///:memory:") == Path("data/kennisbrug-crypto")
    assert default_store_path("postgresql+asyncpg://u:p@db/kb") == Path("data/kennisbrug-crypto")


def test_all_is_the_explicit_opt_out(tmp_path: Path) -> None:
    assert config(tmp_path, trust="all").matrix.trust == "all"


# ---------------------------------------------------------- rooms the bot creates


def rooms(cfg: Config) -> RoomManager:
    return RoomManager(None, cfg, RoomDirectory())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, True),  # a direct chat the bot starts
        (RoomSpec(alias_localpart=None, name="dm", is_direct=True), True),
        (RoomSpec(alias_localpart=None, name="pair", private=True), True),
        (RoomSpec(alias_localpart="kring", name="kring", encrypted=True), True),
        (RoomSpec(alias_localpart="open", name="open"), False),  # a community room
    ],
)
def test_private_rooms_are_encrypted_by_default(
    tmp_path: Path, spec: RoomSpec | None, expected: bool
) -> None:
    assert rooms(config(tmp_path)).encrypt_new_room(spec) is expected


def test_private_room_encryption_can_be_switched_off(tmp_path: Path) -> None:
    manager = rooms(config(tmp_path, encrypt_private_rooms=False))
    assert manager.encrypt_new_room(None) is False
    assert manager.encrypt_new_room(RoomSpec(alias_localpart=None, name="x", encrypted=True)) is True


def test_an_encrypted_room_without_encryption_is_refused(tmp_path: Path) -> None:
    manager = rooms(config(tmp_path, encryption=False))
    assert manager.encrypt_new_room(None) is False
    with pytest.raises(TransportError):
        manager.encrypt_new_room(RoomSpec(alias_localpart=None, name="x", encrypted=True))


def test_an_encrypted_upload_puts_the_uri_and_keys_in_file() -> None:
    upload = Upload(room_id=RoomId("!r"), data=b"abc", filename="a.ics", content_type="text/calendar")
    plain = file_content(upload, "mxc://x/1")
    assert plain["url"] == "mxc://x/1" and "file" not in plain
    secret = file_content(upload, "mxc://x/2", {"key": {"k": "s"}, "iv": "i", "hashes": {}, "v": "v2"})
    assert "url" not in secret and secret["file"]["url"] == "mxc://x/2" and secret["file"]["iv"] == "i"


# ------------------------------------------------------- messages waiting for keys


def encrypted_source(event_id: str, session: str = "s1", sender: str = "@ann:localhost") -> dict[str, Any]:
    return {
        "type": "m.room.encrypted",
        "event_id": event_id,
        "sender": sender,
        "origin_server_ts": int(NOW.timestamp() * 1000),
        "content": {
            "algorithm": "m.megolm.v1.aes-sha2",
            "ciphertext": "AAA",
            "session_id": session,
            "sender_key": "k",
        },
    }


def item(event_id: str, session: str = "s1", first_seen: datetime = NOW) -> Undecrypted:
    source = encrypted_source(event_id, session)
    return Undecrypted(event_id, "!dm", source["sender"], session, first_seen, source)


async def test_waiting_messages_survive_a_restart(db: Database) -> None:
    pending = PendingDecryptions(db, wait_s=60)
    assert pending.add(item("$a")) and not pending.add(item("$a"))
    pending.add(item("$b", session="s2"))
    assert pending.first_notice(pending.items["$a"])
    await pending.save()

    again = PendingDecryptions(db, wait_s=60)
    await again.load()
    assert list(again.items) == ["$a", "$b"]
    assert again.items["$a"].source == encrypted_source("$a")
    assert again.items["$b"].first_seen == NOW
    # The member was told about session s1 before the restart: not again.
    assert not again.first_notice(again.items["$a"])
    assert again.first_notice(again.items["$b"])


async def test_one_notice_per_member_and_session(db: Database) -> None:
    pending = PendingDecryptions(db, wait_s=60)
    first, second, other = item("$1"), item("$2"), item("$3", session="s9")
    assert pending.first_notice(first)
    assert not pending.first_notice(second)
    assert pending.first_notice(other)


async def test_deadlines(db: Database) -> None:
    pending = PendingDecryptions(db, wait_s=30)
    assert pending.seconds_to_next_deadline(NOW) is None
    pending.add(item("$old", first_seen=NOW - timedelta(seconds=20)))
    pending.add(item("$new"))
    assert pending.seconds_to_next_deadline(NOW) == pytest.approx(10)
    assert pending.expired(pending.items["$old"], NOW + timedelta(seconds=10))
    assert not pending.expired(pending.items["$new"], NOW + timedelta(seconds=10))


async def test_a_flood_of_unreadable_messages_is_bounded(db: Database) -> None:
    pending = PendingDecryptions(db, wait_s=30)
    for n in range(MAX_PENDING + 3):
        pending.add(item(f"${n}"))
    assert [i.event_id for i in pending.overflow()] == ["$0", "$1", "$2"]


async def test_a_broken_stored_list_is_replaced(db: Database) -> None:
    from bot.matrix import state

    await state.save(db, {"matrix.undecrypted": "{not json"})
    pending = PendingDecryptions(db, wait_s=30)
    await pending.load()
    assert pending.items == {}


def test_only_well_formed_encrypted_events_wait(tmp_path: Path) -> None:
    crypto = Crypto(None, config(tmp_path), None, None)  # type: ignore[arg-type]
    waiting = crypto.undecrypted(RoomId("!dm"), encrypted_source("$x"), NOW)
    assert waiting is not None and waiting.session_id == "s1" and waiting.sender == "@ann:localhost"
    broken = encrypted_source("$y")
    del broken["content"]["session_id"]
    assert crypto.undecrypted(RoomId("!dm"), broken, NOW) is None
    assert Undecrypted.from_json({"event_id": "$z"}) is None


async def test_a_store_opened_with_another_key_stops_the_bot_with_a_clear_message(
    tmp_path: Path, db: Database
) -> None:
    from nio import AsyncClient

    from bot.clock import FakeClock
    from bot.matrix.client import build_client
    from bot.matrix.crypto import CryptoStoreError

    def opened(key: str) -> tuple[AsyncClient, Crypto]:
        cfg = config(tmp_path, store_path=str(tmp_path / "store"), store_key=key)
        client = build_client(cfg)
        client.user_id, client.device_id, client.access_token = "@kennisbrug:localhost", "DEVICE", "t"
        return client, Crypto(client, cfg, db, FakeClock(NOW))

    client, crypto = opened("first-key-0123456789")
    await crypto.prepare()
    client.load_store()  # creates the device's account, pickled with the first key
    assert client.olm is not None and client.config.pickle_key == "first-key-0123456789"
    await client.close()

    client, crypto = opened("other-key-0123456789")
    await crypto.prepare()
    with pytest.raises(CryptoStoreError) as error:
        await crypto.load()
    assert error.value.problems[0].startswith("matrix.store_key: the crypto store in")
    assert "other-key" not in error.value.problems[0]
    await client.close()


async def test_a_room_known_only_from_an_incremental_sync_is_read_in_full_before_sending(
    tmp_path: Path, db: Database
) -> None:
    """After a restart nio may know a DM from one sync that named only the bot, and its own
    fallback (joined members) would leave out the invited member: no room key for them.
    The room's full state is read instead, so the invited member gets the key."""
    from nio import AsyncClient, KeysQueryResponse, MatrixRoom, RoomGetStateResponse

    from bot.clock import FakeClock
    from bot.matrix.client import build_client

    bot, ann, room_id = "@kennisbrug:localhost", "@ann:localhost", "!dm:localhost"
    cfg = config(tmp_path, store_path=str(tmp_path / "store"), store_key="a-key-0123456789")
    client: AsyncClient = build_client(cfg)
    client.user_id, client.device_id, client.access_token = bot, "DEVICE", "t"
    crypto = Crypto(client, cfg, db, FakeClock(NOW))
    await crypto.prepare()
    client.load_store()

    def member(user: str, membership: str) -> dict[str, Any]:
        return {
            "type": "m.room.member",
            "state_key": user,
            "sender": bot,
            "event_id": f"$m-{user}",
            "origin_server_ts": 1,
            "content": {"membership": membership},
        }

    state = [
        {
            "type": "m.room.encryption",
            "state_key": "",
            "sender": bot,
            "event_id": "$e",
            "origin_server_ts": 1,
            "content": {"algorithm": "m.megolm.v1.aes-sha2"},
        },
        member(bot, "join"),
        member(ann, "invite"),
    ]
    asked: list[str] = []

    async def room_get_state(room: str) -> RoomGetStateResponse:
        asked.append(room)
        return RoomGetStateResponse.from_dict(state, room)

    async def keys_query() -> KeysQueryResponse:
        client.olm.users_for_key_query.clear()  # type: ignore[union-attr]
        return KeysQueryResponse({}, {})

    client.room_get_state = room_get_state  # type: ignore[method-assign]
    client.keys_query = keys_query  # type: ignore[method-assign]
    partial = MatrixRoom(room_id, bot, encrypted=True)  # what the first sync after a restart left
    partial.add_member(bot, None, None)
    client.rooms[room_id] = partial
    client.encrypted_rooms.add(room_id)

    await crypto.prepare_send(RoomId(room_id))

    room = client.rooms[room_id]
    assert asked == [room_id]
    assert set(room.users) == {bot, ann} and ann in room.invited_users
    assert room.members_synced  # so nio does not narrow it to the joined members again
    await crypto.prepare_send(RoomId(room_id))
    assert asked == [room_id], "read once; later sends use what nio knows"
    await client.close()
