"""Key backup (issue 19): a bot on a new device reads an old encrypted DM after a restore.

A member's encrypting client writes in a DM and the bot answers; the room keys of both
reach the homeserver's key backup; the recovery key file is the bot's only copy of the
private key (in Element's form: the key of the secret storage that holds the backup
key). A second bot with a new database and an empty crypto store (a new device
of the same account) restores with ``kennisbrug restore-keys`` and decrypts the old
message fetched through ``/messages``. Forgetting the member deletes their DM from the
backup.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import stat
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from nio import MegolmEvent, MessageDirection, RoomMessagesResponse, RoomMessageText

from bot.cli import main
from bot.config import Config, parse_config
from bot.devtools.synapse import LocalSynapse
from bot.ids import UserId
from bot.matrix import state as matrix_state
from bot.matrix.key_backup_data import public_key_of
from bot.matrix.recovery_key import encode_recovery_key, read_recovery_key_file
from bot.matrix.secret_storage import decrypt_secret, key_fits
from bot.storage.database import Database

from .conftest import Accounts, BotRunner, EncryptedMember, bot_config_dict

pytestmark = pytest.mark.integration

SECRET = "Hallo, een oud geheim: !help"


def write_config(raw: dict[str, Any], path: Path) -> Config:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return parse_config(raw, path, env={})


async def bot_token(config: Config) -> str:
    db = Database(config.database.url)
    try:
        return (await matrix_state.load(db, matrix_state.ACCESS_TOKEN))[matrix_state.ACCESS_TOKEN]
    finally:
        await db.dispose()


async def homeserver(synapse: LocalSynapse, token: str, path: str) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{synapse.base_url}/_matrix/client/v3/{path}", headers={"Authorization": f"Bearer {token}"}
        ) as resp,
    ):
        return resp.status, await resp.json()


async def clear_secret_storage(synapse: LocalSynapse, user: str, password: str) -> None:
    """Earlier tests' bots (same account) set up secret storage: start without a default key."""
    login = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password,
    }
    api = f"{synapse.base_url}/_matrix/client/v3"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{api}/login", json=login) as resp:
            token = (await resp.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{api}/user/{user}/account_data/m.secret_storage.default_key"
        async with http.put(url, json={}, headers=headers) as resp:
            assert resp.status == 200
        async with http.post(f"{api}/logout", headers=headers) as resp:
            assert resp.status == 200


async def backup_key_as_element_finds_it(
    synapse: LocalSynapse, token: str, user: str, recovery_key: bytes
) -> bytes:
    """What Element does with a recovery key: the default secret storage key, its check
    value, then the secret ``m.megolm_backup.v1``."""
    _, default = await homeserver(synapse, token, f"user/{user}/account_data/m.secret_storage.default_key")
    _, description = await homeserver(
        synapse, token, f"user/{user}/account_data/m.secret_storage.key.{default['key']}"
    )
    assert key_fits(recovery_key, description)
    _, secret = await homeserver(synapse, token, f"user/{user}/account_data/m.megolm_backup.v1")
    text = decrypt_secret(recovery_key, "m.megolm_backup.v1", secret["encrypted"][default["key"]])
    return base64.b64decode(text + "=" * (-len(text) % 4))


async def backed_up_sessions(synapse: LocalSynapse, token: str, room_id: str) -> set[str]:
    _, version = await homeserver(synapse, token, "room_keys/version")
    status, room = await homeserver(synapse, token, f"room_keys/keys/{room_id}?version={version['version']}")
    return set(room.get("sessions", {})) if status == 200 else set()


async def old_messages(runner: BotRunner, room_id: str, sender: str) -> list[str]:
    """The bodies of ``sender``'s messages in the room's history, as this bot decrypts them."""
    assert runner.app is not None
    client = runner.app.transport._client  # type: ignore[attr-defined]
    resp = await client.room_messages(room_id, start="", direction=MessageDirection.back, limit=50)
    assert isinstance(resp, RoomMessagesResponse), resp
    theirs = [e for e in resp.chunk if getattr(e, "sender", None) == sender]
    readable = [client.decrypt_event(e) if isinstance(e, MegolmEvent) else e for e in theirs]
    return [e.body for e in readable if isinstance(e, RoomMessageText)]


async def test_a_bot_on_a_new_device_restores_the_keys_and_reads_an_old_dm(
    synapse: LocalSynapse,
    accounts: Accounts,
    tmp_path: Path,
    tag: str,
    encrypted_member_factory: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    bot_user = accounts.user_id("kennisbrug")
    old_config = write_config(
        bot_config_dict(synapse, accounts, tmp_path / "old", tag), tmp_path / "old.yaml"
    )
    key_file = old_config.matrix.recovery_key_file
    await clear_secret_storage(synapse, bot_user, accounts.passwords["kennisbrug"])
    runner = BotRunner(old_config)
    await runner.start()
    alice: EncryptedMember = await encrypted_member_factory("alice")
    try:
        # The first start made the backup and wrote the recovery key, for its owner only.
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        private_key = read_recovery_key_file(key_file)
        dm = await alice.open_encrypted_dm(bot_user)
        reply = await alice.ask(dm, SECRET, timeout=20)
        assert reply.decrypted
        assert alice.client.olm is not None
        alice_session = alice.client.olm.outbound_group_sessions[dm].id
        token = await bot_token(old_config)
        started = time.monotonic()
        while alice_session not in (sessions := await backed_up_sessions(synapse, token, dm)):
            assert time.monotonic() - started < 15, "the member's room key never reached the backup"
            await asyncio.sleep(0.2)
        print(f"[key backup] member's key in the backup {time.monotonic() - started:.2f}s after the reply")
        assert len(sessions) >= 2, "the bot's own room key (its reply) is backed up too"
        # Element finds the backup key in secret storage with the same recovery key.
        backup_key = await backup_key_as_element_finds_it(synapse, token, bot_user, private_key)
        _, version = await homeserver(synapse, token, "room_keys/version")
        assert version["auth_data"]["public_key"] == public_key_of(backup_key) != public_key_of(private_key)
        assert bot_user in version["auth_data"]["signatures"]
    finally:
        await runner.stop()

    # A new machine: another database, an empty crypto store, so a new device.
    new_config = write_config(
        bot_config_dict(synapse, accounts, tmp_path / "new", tag), tmp_path / "new.yaml"
    )
    assert not new_config.matrix.store_path.exists()
    wrong = tmp_path / "wrong-key.txt"
    wrong.write_text(encode_recovery_key(bytes(32)))
    assert await asyncio.to_thread(main, ["restore-keys", "--config", str(tmp_path / "new.yaml"),
                                          "--recovery-key-file", str(wrong)]) == 1  # fmt: skip
    restored = await asyncio.to_thread(
        main, ["restore-keys", "--config", str(tmp_path / "new.yaml"), "--recovery-key-file", str(key_file)]
    )
    assert restored == 0

    runner = BotRunner(new_config)
    await runner.start()
    try:
        assert await bot_token(new_config) != token
        # The restored backup is the one in use: no second recovery key.
        assert not new_config.matrix.recovery_key_file.exists()
        assert read_recovery_key_file(key_file) == private_key
        assert await old_messages(runner, dm, alice.client.user_id) == [SECRET]
    finally:
        await runner.stop()

    # Or at start: a third machine with the recovery key in the environment/config.
    raw = bot_config_dict(synapse, accounts, tmp_path / "third", tag)
    raw["matrix"]["recovery_key"] = key_file.read_text().strip()
    runner = BotRunner(write_config(raw, tmp_path / "third.yaml"))
    await runner.start()
    try:
        assert await old_messages(runner, dm, alice.client.user_id) == [SECRET]
        # Forgetting the member (what !vergeet-mij does once confirmed) takes their DM
        # out of the backup.
        assert runner.app is not None
        await runner.app.services.privacy.erase_all(UserId(alice.client.user_id))
        assert await backed_up_sessions(synapse, await bot_token(runner.config), dm) == set()
    finally:
        await runner.stop()
    # The key was printed by the command line only, never logged.
    assert key_file.read_text().strip() not in caplog.text
    assert "".join(key_file.read_text().split()) not in caplog.text
