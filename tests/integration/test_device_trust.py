"""Trust on first use on a real homeserver (``matrix.trust: tofu``, the default).

Members are encrypting matrix-nio clients; a second client of the same account is a
second device, logged in later. Each test's member is an account of its own, so no
device of an earlier test counts as one the bot met first.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from nio import RoomMessageNotice

from bot.devtools.synapse import LocalSynapse

from .conftest import Accounts, BotRunner, EncryptedMember, barrier
from .test_encryption import config_for

pytestmark = pytest.mark.integration

NEW_DEVICE = "Er is een nieuw apparaat aan je account toegevoegd"
CHANGED_KEY = "heeft ineens een andere beveiligingssleutel"


def device_notices(member: EncryptedMember, room_id: str) -> list[Any]:
    return [e for e in member.notices(room_id) if NEW_DEVICE in e.body]


async def knows_room(member: EncryptedMember, room_id: str, timeout: float = 20) -> None:
    """A device logged in before the room existed syncs until its client knows it."""
    deadline = time.monotonic() + timeout
    while room_id not in member.client.rooms:
        assert time.monotonic() < deadline, f"{member.client.device_id} never saw {room_id}"
        await member.sync_once(500)


async def own_account(synapse: LocalSynapse, tag: str, name: str) -> tuple[str, str]:
    password = secrets.token_urlsafe(12)
    return await synapse.register_user(f"{name}{tag}", password), password


async def test_a_new_device_is_told_once_keeps_working_and_a_restart_repeats_nothing(
    synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str
) -> None:
    config = config_for(synapse, accounts, tmp_path, tag)
    bot_user = config.matrix.user_id
    user_id, password = await own_account(synapse, tag, "tofu")
    runner = BotRunner(config)
    await runner.start()
    phone = EncryptedMember(synapse, user_id, password, tmp_path / "phone")
    laptop = EncryptedMember(synapse, user_id, password, tmp_path / "laptop")
    try:
        await phone.login()
        dm = await phone.open_encrypted_dm(bot_user)
        first = await phone.ask(dm, "!help", timeout=30)
        assert first.decrypted and NEW_DEVICE not in first.body
        await barrier(phone, dm)
        assert device_notices(phone, dm) == []  # the devices of a first meeting are trusted

        await laptop.login()  # the member (or someone with their password) adds a device
        assert laptop.client.device_id
        [notice] = await phone.wait_for(
            lambda r, e: r == dm and isinstance(e, RoomMessageNotice) and NEW_DEVICE in e.body, timeout=30
        )
        assert notice.decrypted and notice.sender == bot_user
        assert laptop.client.device_id in notice.body and "wachtwoord" in notice.body

        # The new device is trusted from now on: the bot answers it, and it can read that.
        answer = await barrier(laptop, dm)
        assert isinstance(answer, RoomMessageNotice) and answer.decrypted
        await barrier(phone, dm)
        assert len(device_notices(phone, dm)) == 1

        await runner.stop()
        await runner.start()
        after = await barrier(laptop, dm)
        assert isinstance(after, RoomMessageNotice) and after.decrypted
        await barrier(phone, dm)
        print(f"[tofu] notices {len(device_notices(phone, dm))}, undecryptable {len(laptop.undecryptable())}")
        assert len(device_notices(phone, dm)) == 1, "the notice came again after a restart"
        assert [e for e in laptop.undecryptable() if e.sender == bot_user] == []
    finally:
        await runner.stop()
        await phone.close()
        await laptop.close()


async def test_a_known_device_with_another_key_is_blacklisted_and_the_member_told(
    synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str
) -> None:
    """What trust on first use catches: a client with a new key takes over a device id
    the bot already knows. The member hears it on their other device; the impostor
    reads nothing the bot sends."""
    config = config_for(synapse, accounts, tmp_path, tag)
    bot_user = config.matrix.user_id
    user_id, password = await own_account(synapse, tag, "tofukey")
    runner = BotRunner(config)
    await runner.start()
    phone = EncryptedMember(synapse, user_id, password, tmp_path / "phone")
    laptop = EncryptedMember(synapse, user_id, password, tmp_path / "laptop")
    impostor = EncryptedMember(synapse, user_id, password, tmp_path / "impostor")
    try:
        await phone.login()
        await laptop.login()
        dm = await phone.open_encrypted_dm(bot_user)
        await barrier(phone, dm)
        await knows_room(laptop, dm)
        await barrier(laptop, dm)
        assert device_notices(laptop, dm) == []  # both devices were there at the first meeting

        impostor.client.device_id = phone.client.device_id  # the same device id, a new key
        await impostor.login()
        [notice] = await laptop.wait_for(
            lambda r, e: r == dm and isinstance(e, RoomMessageNotice) and CHANGED_KEY in e.body, timeout=30
        )
        assert notice.decrypted and phone.client.device_id in notice.body

        await knows_room(impostor, dm)
        answer = await barrier(impostor, dm)
        assert not isinstance(answer, RoomMessageNotice), "the device with the new key read the bot's answer"
        assert isinstance(await barrier(laptop, dm), RoomMessageNotice)  # the member's other device still reads
        assert len([e for e in laptop.notices(dm) if CHANGED_KEY in e.body]) == 1
    finally:
        await runner.stop()
        for member in (phone, laptop, impostor):
            await member.close()
