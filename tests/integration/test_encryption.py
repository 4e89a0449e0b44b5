"""Encrypted rooms (issue 9): members whose clients encrypt, as Element does in DMs.

The members are matrix-nio clients with encryption on and a store of their own; the
bot runs with its defaults (encryption on, trust on first use, private rooms encrypted). A
reply counts only when the member's client decrypted it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from nio import MegolmEvent, RoomMessageNotice, RoomMessageText, ToDeviceMessage

from bot.clock import OffsetClock, SystemClock
from bot.config import Config, parse_config
from bot.devtools.synapse import LocalSynapse
from bot.ids import RoomId, UserId
from bot.matrix import MatrixTransport
from bot.matrix import state as matrix_state
from bot.room_directory import RoomDirectory
from bot.storage.database import Database
from bot.storage.migrate import migrate
from bot.transport import IncomingEvent, IncomingMessage, OutgoingMessage, RoomSpec

from .conftest import Accounts, BotRunner, EncryptedMember, bot_config_dict

pytestmark = pytest.mark.integration

MEGOLM = "m.megolm.v1.aes-sha2"


def config_for(
    synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str, **matrix: Any
) -> Config:
    raw = bot_config_dict(synapse, accounts, tmp_path, tag)
    raw["matrix"].update(matrix)
    return parse_config(raw, tmp_path / "bot.yaml", env={})


async def settle(member: EncryptedMember, seconds: float) -> None:
    """Keep syncing for a while, so a late double answer would be seen."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await member.sync_once(int(max(0.1, min(1.0, deadline - time.monotonic())) * 1000))


# ---------------------------------------------------------------- the full bot


async def test_an_encrypted_dm_is_answered_and_the_member_can_read_it(
    bot: BotRunner, encrypted_member_factory: Callable[..., Any], accounts: Accounts
) -> None:
    alice: EncryptedMember = await encrypted_member_factory("alice")
    dm = await alice.open_encrypted_dm(accounts.user_id("kennisbrug"))

    reply = await alice.ask(dm, "!help", timeout=20)

    assert alice.client.rooms[dm].encrypted
    assert isinstance(reply, RoomMessageNotice) and reply.decrypted, reply
    assert reply.sender == accounts.user_id("kennisbrug")
    assert "!help" in reply.body or "help" in reply.body.lower()
    assert alice.undecryptable() == []


async def test_three_restarts_lose_no_key_and_answer_nothing_twice(
    synapse: LocalSynapse,
    accounts: Accounts,
    tmp_path: Path,
    tag: str,
    encrypted_member_factory: Callable[..., Any],
) -> None:
    config = config_for(synapse, accounts, tmp_path, tag)
    runner = BotRunner(config)
    await runner.start()
    bob: EncryptedMember = await encrypted_member_factory("bob")
    dm = await bob.open_encrypted_dm(accounts.user_id("kennisbrug"))
    commands = 0
    try:
        await bob.ask(dm, "!help", timeout=20)
        commands += 1
        device = await stored_device(config)
        for _round in range(3):
            await runner.stop()
            # Sent while the bot is down: decrypted after the restart from the stored keys.
            await bob.send(dm, "!taal")
            await bob.send(dm, "!help")
            commands += 2
            await runner.start()
            await bob.wait_for(lambda r, e: r == dm and isinstance(e, RoomMessageNotice), 30, count=commands)
            await bob.ask(dm, "!status", timeout=20)  # and live after the restart
            commands += 1
            assert await stored_device(config) == device, "the bot got a new device"
        await settle(bob, 2.0)
    finally:
        await runner.stop()

    answers = [e for e in bob.notices(dm) if e.sender == accounts.user_id("kennisbrug")]
    print(f"[e2e restarts] commands {commands}, answers {len(answers)}, undecryptable {len(bob.undecryptable())}")
    assert len(answers) == commands
    assert all(a.decrypted for a in answers)
    assert bob.undecryptable() == []


async def stored_device(config: Config) -> str | None:
    db = Database(config.database.url)
    try:
        return (await matrix_state.load(db, matrix_state.DEVICE_ID)).get(matrix_state.DEVICE_ID)
    finally:
        await db.dispose()


async def keep_room_key_from_bot(client: Any, dm: RoomId, config: Config, bot_user: str) -> Any:
    """Share a new session in ``dm`` with nobody but the member's own devices, as a client
    that excludes unverified devices does; returns the bot's device, which got no key."""
    await client.joined_members(dm)
    if client.should_query_keys:
        await client.keys_query()
    bot_device = await stored_device(config)
    bot_devices = [d for d in client.device_store.active_user_devices(bot_user) if d.id == bot_device]
    assert len(bot_devices) == 1
    client.blacklist_device(bot_devices[0])
    await client.share_group_session(dm, ignore_unverified_devices=True)
    return bot_devices[0]


async def test_a_member_with_two_devices_reads_the_answers_on_both(
    bot: BotRunner, encrypted_member_factory: Callable[..., Any], accounts: Accounts
) -> None:
    phone: EncryptedMember = await encrypted_member_factory("carol")
    dm = await phone.open_encrypted_dm(accounts.user_id("kennisbrug"))
    await phone.ask(dm, "!help", timeout=20)
    laptop: EncryptedMember = await encrypted_member_factory("carol")  # logs in later
    await laptop.sync_once(500)

    from_phone = await phone.ask(dm, "!status", timeout=20)
    from_laptop = await laptop.ask(dm, "!taal", timeout=20)
    await settle(phone, 1.0)
    await settle(laptop, 1.0)

    bot_user = accounts.user_id("kennisbrug")
    for device in (phone, laptop):
        answers = [e for e in device.notices(dm) if e.sender == bot_user]
        ids = {e.event_id for e in answers}
        assert from_phone.event_id in ids and from_laptop.event_id in ids
        assert all(a.decrypted for a in answers)
    assert [e for e in laptop.undecryptable() if e.sender == bot_user] == []
    assert [e for e in phone.undecryptable() if e.sender == bot_user] == []


# ------------------------------------------------------------- the transport


class Recorder:
    def __init__(self) -> None:
        self.events: list[IncomingEvent] = []

    async def __call__(self, event: IncomingEvent) -> None:
        self.events.append(event)

    async def message(self, body: str, timeout: float = 20) -> IncomingMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if isinstance(event, IncomingMessage) and event.body == body:
                    return event
            await asyncio.sleep(0.05)
        raise AssertionError(f"the transport did not deliver {body!r}")


@pytest.fixture
async def transport(bot_config: Config) -> AsyncIterator[tuple[MatrixTransport, Recorder]]:
    db = Database(bot_config.database.url)
    await migrate(db)
    transport = MatrixTransport(bot_config, db, SystemClock(), RoomDirectory())
    await transport.connect()
    await transport.setup_community({}, "Kennisbrug")
    recorder = Recorder()
    task = asyncio.create_task(transport.run(recorder))
    await transport.wait_until_synced(timeout=30)
    try:
        yield transport, recorder
    finally:
        await transport.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)
        await db.dispose()


async def join_and_read(member: EncryptedMember, room_id: str, body: str) -> Any:
    joined = await member.client.join(room_id)
    assert getattr(joined, "room_id", None) == room_id, joined
    found = await member.wait_for(
        lambda r, e: r == room_id and isinstance(e, RoomMessageNotice | RoomMessageText | MegolmEvent),
        timeout=20,
    )
    event = found[0]
    assert not isinstance(event, MegolmEvent), "the member could not decrypt the bot's message"
    assert event.body == body and event.decrypted
    return event


async def test_a_dm_the_bot_starts_is_encrypted_and_works_both_ways(
    transport: tuple[MatrixTransport, Recorder], encrypted_member_factory: Callable[..., Any]
) -> None:
    bot, recorder = transport
    dave: EncryptedMember = await encrypted_member_factory("alice")
    dm = await bot.direct_room(UserId(dave.user_id))
    # Sent right away, while the member is only invited (the onboarding DM does this).
    await bot.send(OutgoingMessage(room_id=dm, plain="Welkom bij Kennisbrug!"))
    await dave.sync_once(500)

    await join_and_read(dave, dm, "Welkom bij Kennisbrug!")
    assert dave.client.rooms[dm].encrypted

    sent = await dave.send(dm, "dank je, ik ben er")
    received = await recorder.message("dank je, ik ben er")
    assert received.event_id == sent and received.is_direct is True
    await bot.send(OutgoingMessage(room_id=dm, plain="Graag gedaan.", reply_to=received.event_id))
    answer = await dave.wait_for(lambda r, e: r == dm and getattr(e, "body", "") == "Graag gedaan.", 20)
    assert answer[0].decrypted


async def test_a_room_created_with_encrypted_true_works_end_to_end(
    transport: tuple[MatrixTransport, Recorder], encrypted_member_factory: Callable[..., Any], tag: str
) -> None:
    bot, recorder = transport
    erin: EncryptedMember = await encrypted_member_factory("bob")
    room_id = await bot.create_room(
        RoomSpec(alias_localpart=f"kring-{tag}", name="Intervisie", invite=[UserId(erin.user_id)], encrypted=True)
    )
    await bot.send(OutgoingMessage(room_id=room_id, plain="Welkom in de intervisiekring."))
    await erin.sync_once(500)
    await join_and_read(erin, room_id, "Welkom in de intervisiekring.")
    assert erin.client.rooms[room_id].encrypted

    sent = await erin.send(room_id, "hallo kring")
    received = await recorder.message("hallo kring")
    assert received.event_id == sent and received.room_id == RoomId(room_id)


# --------------------------------------------------------- keys that are missing


async def test_a_key_that_arrives_late_is_requested_and_the_message_answered_once(
    synapse: LocalSynapse,
    accounts: Accounts,
    tmp_path: Path,
    tag: str,
    encrypted_member_factory: Callable[..., Any],
) -> None:
    """The member's client withholds the room key; the bot asks for it, gets it, answers."""
    config = config_for(synapse, accounts, tmp_path, tag, undecryptable_wait_s=30)
    runner = BotRunner(config)
    await runner.start()
    try:
        frank: EncryptedMember = await encrypted_member_factory("carol")
        bot_user = accounts.user_id("kennisbrug")
        dm = await frank.open_encrypted_dm(bot_user)
        client = frank.client
        assert client.olm is not None
        # Share a new session with nobody but ourselves: the bot's device gets no key.
        device = await keep_room_key_from_bot(client, dm, config, bot_user)
        session = client.olm.outbound_group_sessions[dm]
        key = {"algorithm": MEGOLM, "room_id": dm, "session_id": session.id, "session_key": session.session_key}

        command = await frank.send(dm, "!help")

        # The bot asks the sender's devices for the key of that session.
        deadline = time.monotonic() + 20
        while not any(r.session_id == session.id for r in frank.key_requests):
            assert time.monotonic() < deadline, "the bot did not request the missing room key"
            await frank.sync_once(500)
        assert frank.notices(dm) == []

        # The key arrives (late), Olm-encrypted for the bot's device only.
        client.unblacklist_device(device)
        if client.olm.session_store.get(device.curve25519) is None:
            await client.keys_claim({bot_user: [device.id]})
        olm_session = client.olm.session_store.get(device.curve25519)
        assert olm_session is not None
        payload = client.olm._olm_encrypt(olm_session, device, "m.room_key", key)
        await client.to_device(ToDeviceMessage("m.room.encrypted", bot_user, device.id, payload))

        answers = await frank.wait_for(lambda r, e: r == dm and isinstance(e, RoomMessageNotice), 20)
        await settle(frank, 2.0)
    finally:
        await runner.stop()
    replies = [e for e in frank.notices(dm) if e.sender == bot_user]
    assert len(replies) == 1 and replies[0].decrypted
    assert replies[0].source["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") in (
        command,
        None,
    )
    assert "sleutel" not in answers[0].body  # the help text, not the "cannot read" notice


async def test_a_message_that_stays_unreadable_is_explained_once(
    synapse: LocalSynapse,
    accounts: Accounts,
    tmp_path: Path,
    tag: str,
    encrypted_member_factory: Callable[..., Any],
) -> None:
    runner = BotRunner(config_for(synapse, accounts, tmp_path, tag, undecryptable_wait_s=2))
    await runner.start()
    try:
        gina: EncryptedMember = await encrypted_member_factory("alice")
        bot_user = accounts.user_id("kennisbrug")
        dm = await gina.open_encrypted_dm(bot_user)
        client = gina.client
        await client.joined_members(dm)
        if client.should_query_keys:
            await client.keys_query()
        for device in client.device_store.active_user_devices(bot_user):
            client.blacklist_device(device)  # the bot's device never gets this session's key

        started = time.monotonic()
        await gina.send(dm, "!help")
        await gina.send(dm, "!status")
        found = await gina.wait_for(lambda r, e: r == dm and isinstance(e, RoomMessageNotice), 30)
        waited = time.monotonic() - started
        await settle(gina, 4.0)  # past a second deadline: still one notice
    finally:
        await runner.stop()
    notices = [e for e in gina.notices(dm) if e.sender == bot_user]
    print(f"[e2e unreadable] notice after {waited:.1f}s, notices {len(notices)}")
    assert len(notices) == 1
    assert notices[0].decrypted and "niet lezen" in found[0].body
    assert 2.0 <= waited < 20


async def test_encrypted_community_rooms_when_configured(
    synapse: LocalSynapse,
    accounts: Accounts,
    tmp_path: Path,
    tag: str,
    encrypted_member_factory: Callable[..., Any],
) -> None:
    config = config_for(synapse, accounts, tmp_path, tag, encrypt_community_rooms=True)
    runner = BotRunner(config)
    await runner.start()
    try:
        ida: EncryptedMember = await encrypted_member_factory("carol")
        welcome = await ida.join(config.rooms["welcome"])
        await ida.sync_once(500)
        reply = await ida.ask(welcome, "!help", timeout=20)
    finally:
        await runner.stop()
    assert ida.client.rooms[welcome].encrypted
    assert isinstance(reply, RoomMessageNotice) and reply.decrypted


async def test_after_a_restart_the_bot_can_still_write_first_in_an_encrypted_dm(
    synapse: LocalSynapse,
    accounts: Accounts,
    tmp_path: Path,
    tag: str,
    encrypted_member_factory: Callable[..., Any],
) -> None:
    """The bot writes first in an encrypted DM (a welcome), restarts, and writes again
    (an invitation, a reminder) before the member has even joined: the member's device
    reads both once it joins."""
    config = config_for(synapse, accounts, tmp_path, tag)
    clock = OffsetClock(timedelta(days=6))  # the bot lives next week; the network does not
    runner = BotRunner(config, clock=clock)
    await runner.start()
    frank: EncryptedMember = await encrypted_member_factory("frank")
    try:
        assert runner.app is not None
        await frank.join(config.rooms["welcome"])  # the bot learns frank's device here
        dm = await runner.app.services.transport.direct_room(UserId(frank.user_id))
        await runner.app.services.transport.send(OutgoingMessage(room_id=dm, plain="Voor de herstart"))
        await runner.stop()
        clock.advance(timedelta(hours=24))
        await runner.start()
        assert runner.app is not None
        await runner.app.services.transport.send(OutgoingMessage(room_id=dm, plain="Na de herstart"))
        await frank.sync_once(500)
        await frank.client.join(dm)
        wanted = ("Voor de herstart", "Na de herstart")
        seen = await frank.wait_for(
            lambda r, e: r == dm and (getattr(e, "body", "") in wanted or isinstance(e, MegolmEvent)), 20, count=2
        )
        assert [getattr(e, "body", type(e).__name__) for e in seen] == list(wanted)
    finally:
        await runner.stop()
    assert frank.undecryptable() == []
