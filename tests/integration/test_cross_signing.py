"""The bot cross-signs its own device (issue 19), checked as a member's client sees it.

A member's matrix-nio client asks the homeserver for the bot's keys (``/keys/query``)
and checks every signature with matrix-org's signedjson: the master key is the one the
bot keeps, the self-signing key is signed by it, and the bot's device is signed by the
self-signing key (and vouches for the master key, as Element's devices do).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from nio import AsyncClient, LoginResponse
from signedjson.key import decode_verify_key_bytes
from signedjson.sign import SignatureVerifyException, verify_signed_json

from bot.config import Config, parse_config
from bot.devtools.synapse import LocalSynapse
from bot.matrix import state as matrix_state
from bot.matrix.client import api_json
from bot.matrix.cross_signing import KEYS_STATE, CrossSigningKeys
from bot.matrix.cross_signing_setup import Outcome
from bot.storage import Database, keyvalue

from .conftest import SERVER, Accounts, BotRunner, Member, bot_config_dict

pytestmark = pytest.mark.integration

KENNISBRUG = str(Path(sys.executable).with_name("kennisbrug"))


def verify_key(public: str, name: str | None = None) -> Any:
    raw = base64.b64decode(public + "=" * (-len(public) % 4))
    return decode_verify_key_bytes(f"ed25519:{name or public}", raw)


def signed(obj: dict[str, Any], user_id: str, public: str, name: str | None = None) -> bool:
    try:
        verify_signed_json(obj, user_id, verify_key(public, name))
    except SignatureVerifyException:
        return False
    return True


def only_key(key_object: dict[str, Any]) -> str:
    [public] = key_object["keys"].values()
    return str(public)


async def keys_of(client: AsyncClient, user_id: str) -> dict[str, Any]:
    status, body = await api_json(client, "POST", ["keys", "query"], {"device_keys": {user_id: []}})
    assert status == 200, body
    return body


async def stored_master(config: Config) -> str:
    """The master public key the bot keeps (in clear next to its sealed private keys)."""
    db = Database(config.database.url)
    try:
        return str(json.loads((await keyvalue.load(db, KEYS_STATE))[KEYS_STATE])["master"])
    finally:
        await db.dispose()


def assert_cross_signed(answer: dict[str, Any], user_id: str, device_id: str, master: str) -> str:
    """Every signature a client checks before it trusts the bot's device; returns the self-signing key."""
    master_key = answer["master_keys"][user_id]
    self_signing = answer["self_signing_keys"][user_id]
    device = answer["device_keys"][user_id][device_id]
    assert only_key(master_key) == master, "the master key on the server is not the bot's"
    ssk = only_key(self_signing)
    assert signed(self_signing, user_id, master), "the self-signing key is not signed by the master key"
    assert signed(device, user_id, ssk), "the bot's device is not signed by the self-signing key"
    device_key = device["keys"][f"ed25519:{device_id}"]
    assert signed(device, user_id, device_key, device_id), "the device keys lost their own signature"
    return ssk


async def assert_device_vouches_for_master(runner: BotRunner, user_id: str) -> None:
    """The device's signature of the master key, as Element adds it. Synapse shows a user's
    signatures of a key only to that user, so the bot's own client asks."""
    client = runner.app.transport._client  # type: ignore[union-attr]
    answer = await keys_of(client, user_id)
    device_key = answer["device_keys"][user_id][client.device_id]["keys"][f"ed25519:{client.device_id}"]
    master_key = answer["master_keys"][user_id]
    assert signed(master_key, user_id, device_key, client.device_id), (
        "the device does not vouch for the master key"
    )


async def put_foreign_keys(synapse: LocalSynapse, user_id: str, password: str) -> str:
    """Cross-signing keys made by another client of the account (as Element would); their master."""
    client = AsyncClient(synapse.base_url, user_id)
    try:
        login = await client.login(password, device_name="another client")
        assert isinstance(login, LoginResponse), login
        keys = CrossSigningKeys.generate(user_id)
        parts = ["keys", "device_signing", "upload"]
        status, answer = await api_json(client, "POST", parts, keys.upload_body())
        if status == 401:
            auth = {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": user_id},
                "password": password,
                "session": answer["session"],
            }
            status, answer = await api_json(client, "POST", parts, {**keys.upload_body(), "auth": auth})
        assert status == 200, answer
        return keys.master_public_key()
    finally:
        await client.logout()
        await client.close()


async def cross_sign(config_file: Path, password: str) -> tuple[int, str]:
    """``kennisbrug cross-sign`` as a separate process, the password typed on its stdin."""
    process = await asyncio.create_subprocess_exec(
        KENNISBRUG,
        "cross-sign",
        "--config",
        str(config_file),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={"PATH": "/usr/bin:/bin"},
    )
    out, _ = await asyncio.wait_for(process.communicate(f"{password}\n".encode()), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode()


def bot_device(runner: BotRunner) -> tuple[str, str]:
    client = runner.app.transport._client  # type: ignore[union-attr]
    return client.device_id, client.olm.account.identity_keys["ed25519"]


async def test_a_member_sees_the_bots_device_signed_by_the_bots_own_keys(
    synapse: LocalSynapse,
    accounts: Accounts,
    bot_config: Config,
    member_factory: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot_user = accounts.user_id("kennisbrug")
    # Keys another client put on the account are replaced, with the configured password.
    foreign = await put_foreign_keys(synapse, bot_user, accounts.passwords["kennisbrug"])
    caplog.set_level(logging.INFO, logger="bot.matrix.cross_signing_setup")
    runner = BotRunner(bot_config)
    await runner.start()
    try:
        steps = [r for r in caplog.records if r.name == "bot.matrix.cross_signing_setup"]
        assert [r.getMessage().split(" (")[0] for r in steps] == [
            "cross-signing: generated the bot's keys",
            "cross-signing: uploaded the bot's keys",
            f"cross-signing: signed device {bot_device(runner)[0]} with the bot's self-signing key",
        ]
        print(f"[cross-signing] first start: {(steps[-1].created - steps[0].created) * 1000:.0f} ms")
        device_id, device_key = bot_device(runner)
        alice: Member = await member_factory("alice")

        answer = await keys_of(alice.client, bot_user)

        master = await stored_master(bot_config)
        assert master != foreign
        assert_cross_signed(answer, bot_user, device_id, master)
        await assert_device_vouches_for_master(runner, bot_user)
        assert answer["device_keys"][bot_user][device_id]["keys"][f"ed25519:{device_id}"] == device_key
    finally:
        await runner.stop()


async def test_a_restart_keeps_the_identity_and_a_new_device_is_signed_by_the_same_keys(
    accounts: Accounts, bot_config: Config, member_factory: Any
) -> None:
    bot_user = accounts.user_id("kennisbrug")
    runner = BotRunner(bot_config)
    await runner.start()
    first_device, _ = bot_device(runner)
    master = await stored_master(bot_config)
    alice: Member = await member_factory("alice")
    ssk = assert_cross_signed(await keys_of(alice.client, bot_user), bot_user, first_device, master)
    await runner.stop()

    await runner.start()  # a plain restart
    try:
        assert bot_device(runner)[0] == first_device
        # With everything in place a start only asks (one /keys/query) and uploads nothing.
        crypto = runner.app.transport._crypto  # type: ignore[union-attr]
        account = runner.app.transport._client.olm.account  # type: ignore[union-attr]
        started = time.perf_counter()
        outcome = await crypto.cross_signing.ensure(None, account.identity_keys["ed25519"], account.sign)
        print(f"[cross-signing] a start with all in place: {(time.perf_counter() - started) * 1000:.0f} ms")
        assert outcome is Outcome.IN_PLACE
        assert await stored_master(bot_config) == master
        assert (
            assert_cross_signed(await keys_of(alice.client, bot_user), bot_user, first_device, master) == ssk
        )
    finally:
        await runner.stop()

    # A new device: the stored token is gone, the bot logs in with its password again.
    db = Database(bot_config.database.url)
    try:
        await matrix_state.remove(db, matrix_state.ACCESS_TOKEN, matrix_state.DEVICE_ID)
    finally:
        await db.dispose()
    await runner.start()
    try:
        second_device, _ = bot_device(runner)
        assert second_device != first_device
        answer = await keys_of(alice.client, bot_user)
        assert await stored_master(bot_config) == master, "a new device made a new identity"
        assert assert_cross_signed(answer, bot_user, second_device, master) == ssk
        await assert_device_vouches_for_master(runner, bot_user)
    finally:
        await runner.stop()


async def test_with_only_a_token_the_bot_starts_and_kennisbrug_cross_sign_uploads_the_keys(
    synapse: LocalSynapse,
    accounts: Accounts,
    tmp_path: Path,
    tag: str,
    member_factory: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    localpart, password = f"xsign-{tag}", secrets.token_urlsafe(10)
    user_id = await synapse.register_user(localpart, password)
    login_client = AsyncClient(synapse.base_url, user_id)
    login = await login_client.login(password, device_name="kennisbrug")
    await login_client.close()  # the token stays valid: it is the bot's now
    assert isinstance(login, LoginResponse), login
    raw = bot_config_dict(synapse, accounts, tmp_path, tag)
    del raw["matrix"]["password"]
    raw["matrix"].update(user_id=user_id, access_token=login.access_token)
    config_file = tmp_path / "bot.yaml"
    config_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
    config = parse_config(raw, config_file, env={})
    alice: Member = await member_factory("alice")

    # A new account: the first upload needs no password.
    runner = BotRunner(config)
    await runner.start()
    await runner.stop()
    master = await stored_master(config)
    assert_cross_signed(await keys_of(alice.client, user_id), user_id, login.device_id, master)

    # Someone resets the account's cross-signing elsewhere: replacing that needs the password.
    await put_foreign_keys(synapse, user_id, password)
    caplog.set_level(logging.WARNING, logger="bot.matrix.cross_signing_setup")
    await runner.start()
    try:
        lines = [r.getMessage() for r in caplog.records if "kennisbrug cross-sign" in r.getMessage()]
        assert len(lines) == 1, lines
        assert f"kennisbrug cross-sign --config {config_file}" in lines[0]
        assert password not in lines[0] and login.access_token not in lines[0]
        # Synapse cannot take a replaced key back: the bot made a new identity, not yet uploaded.
        new_master = await stored_master(config)
        assert new_master != master
        assert only_key((await keys_of(alice.client, user_id))["master_keys"][user_id]) not in (
            master,
            new_master,
        )

        # The operator runs the one command while the bot runs, and types the password once.
        code, out = await cross_sign(config_file, "not the password")
        assert code == 1 and "rejected the password" in out, out
        code, out = await cross_sign(config_file, password)
        assert code == 0, out
        assert "signed" in out and password not in out

        answer = await keys_of(alice.client, user_id)
        device = answer["device_keys"][user_id][login.device_id]
        assert only_key(answer["master_keys"][user_id]) == new_master, (
            "the command did not upload the bot's keys"
        )
        assert signed(device, user_id, only_key(answer["self_signing_keys"][user_id]))
    finally:
        await runner.stop()

    # The next start adds the device's signature of the master key; nothing asks for a password.
    caplog.clear()
    await runner.start()
    try:
        assert not [r for r in caplog.records if "password" in r.getMessage()]
        assert_cross_signed(await keys_of(alice.client, user_id), user_id, login.device_id, new_master)
        await assert_device_vouches_for_master(runner, user_id)
    finally:
        await runner.stop()
    assert await stored_master(config) == new_master
    assert SERVER in user_id
