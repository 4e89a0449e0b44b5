"""A member's client withholds the room key from the bot (issue 19).

What Element does with "exclude insecure devices" on: it shares the room key with the
member's trusted devices only and sends the bot's device an ``m.room_key.withheld``
(code ``m.unverified``). matrix-nio, the member's client here, does not send that event
itself, so the member sends it the way such a client does: an unencrypted to-device
message to the bot's device. The bot keeps its default ``undecryptable_wait_s`` (60 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nio import RoomMessageNotice, ToDeviceMessage

from bot.devtools.synapse import LocalSynapse

from .conftest import Accounts, BotRunner, EncryptedMember
from .test_encryption import MEGOLM, config_for, keep_room_key_from_bot, settle

pytestmark = pytest.mark.integration


async def test_a_withheld_key_is_explained_at_once_and_once(
    synapse: LocalSynapse,
    accounts: Accounts,
    tmp_path: Path,
    tag: str,
    encrypted_member_factory: Callable[..., Any],
) -> None:
    config = config_for(synapse, accounts, tmp_path, tag)
    assert config.matrix.undecryptable_wait_s >= 60  # the default: waiting it out would fail below
    runner = BotRunner(config)
    await runner.start()
    try:
        hana: EncryptedMember = await encrypted_member_factory("alice")
        bot_user = accounts.user_id("kennisbrug")
        dm = await hana.open_encrypted_dm(bot_user)
        client = hana.client
        assert client.olm is not None
        bot_device = await keep_room_key_from_bot(client, dm, config, bot_user)  # "not verified"
        session = client.olm.outbound_group_sessions[dm]
        content = {
            "algorithm": MEGOLM,
            "room_id": dm,
            "session_id": session.id,
            "sender_key": client.olm.account.identity_keys["curve25519"],
            "from_device": client.device_id,
            "code": "m.unverified",
            "reason": "The sender has disabled encrypting to unverified devices.",
        }
        await client.to_device(ToDeviceMessage("m.room_key.withheld", bot_user, bot_device.id, content))

        started = time.monotonic()
        await hana.send(dm, "!help")
        found = await hana.wait_for(lambda r, e: r == dm and isinstance(e, RoomMessageNotice), 20)
        waited = time.monotonic() - started
        await hana.send(dm, "!status")  # the same session: no second notice
        await settle(hana, 4.0)
    finally:
        await runner.stop()
    notices = [e for e in hana.notices(dm) if e.sender == bot_user]
    print(f"[e2e withheld] notice after {waited:.1f}s, notices {len(notices)}")
    assert len(notices) == 1
    # Sent in the clear: a client that withholds keys from the bot's device also refuses
    # to decrypt what that device sends (Element's "exclude insecure devices", seen in
    # test_element_client.py), but it shows an unencrypted notice.
    assert not notices[0].decrypted
    assert "Verifieer mij" in found[0].body
    assert waited < 15
