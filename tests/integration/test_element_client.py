"""A member on Element's own crypto stack talks to the bot (issue 19).

The member is matrix-js-sdk with its Rust crypto (``element/member.mjs`` in Node), set
up as Element sets up a new login: cross-signing bootstrapped for the member, an
encrypted DM made the Element way. What counts is what that client shows: a message
is readable only when the js-sdk decrypted it, and its shield is the one
``getEncryptionInfoForEvent`` gives (Element's red shield is ``RED``, "encrypted by a
device not verified by its owner" is ``UNSIGNED_DEVICE``). "Exclude insecure devices"
(``--strict``) is Element's setting and MSC4153's direction.

Without Node or its npm packages the tests skip with the reason; the rest runs.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config
from bot.devtools.synapse import LocalSynapse

from .conftest import Accounts, BotRunner
from .element_member import (
    ElementMember,
    device_is_cross_signed,
    element_stack_missing,
    master_key,
    new_identity,
    published_keys,
)
from .test_encryption import config_for, stored_device

# The stack is checked (and installed) first, so a machine without Node skips at once.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("element_stack")]

NOT_CROSS_SIGNED = "the bot did not cross-sign its device at start"


@pytest.fixture(scope="session")
def element_stack() -> None:
    reason = element_stack_missing()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
async def element_member(
    synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str
) -> AsyncIterator[Callable[..., Any]]:
    """``await make(strict=...)``: a new member account on Element's stack, logged in and
    cross-signed. A fresh account per test: bootstrapping cross-signing changes the
    account's identity, which other tests' members must not inherit."""
    made: list[ElementMember] = []

    async def make(strict: bool = False) -> ElementMember:
        localpart = f"element-{tag}-{len(made)}"
        password = secrets.token_urlsafe(12)
        user_id = await synapse.register_user(localpart, password)
        member = ElementMember(
            synapse.base_url, user_id, password, accounts.user_id("kennisbrug"), tmp_path / f"{localpart}.log"
        )
        made.append(member)
        ready = await member.start(strict=strict)
        assert ready["cross_signing"], ready
        return member

    yield make
    for member in made:
        await member.close()


async def bot_keys(synapse: LocalSynapse, accounts: Accounts) -> dict[str, Any]:
    """The bot account's keys as the homeserver gives them to a member's client."""
    login = await synapse.login(accounts.user_id("ivy"), accounts.passwords["ivy"])
    return await published_keys(synapse.base_url, login["access_token"], accounts.user_id("kennisbrug"))


async def bot_is_cross_signed(synapse: LocalSynapse, accounts: Accounts, config: Config) -> bool:
    """Whether the running bot's device is signed by its account's self-signing key."""
    device = await stored_device(config)
    assert device is not None, "the bot has no device yet"
    keys = await bot_keys(synapse, accounts)
    return device_is_cross_signed(keys, accounts.user_id("kennisbrug"), device)


def summary(record: dict[str, Any]) -> str:
    """A message as a short line for the test's output."""
    body = (record["body"] or "")[:50].replace("\n", " ")
    return f"decrypted={record['decrypted']} shield={record['shield']}/{record['shield_reason']} {body!r}"


def readable(record: dict[str, Any]) -> bool:
    return bool(record["encrypted"] and record["decrypted"] and record["body"])


def latest(member: ElementMember, record: dict[str, Any]) -> dict[str, Any]:
    """The newest state of a message the member reported (it is reported again when it decrypts)."""
    return member.messages[record["event_id"]]


def not_red(record: dict[str, Any]) -> bool:
    return record["shield"] != "RED" and record["shield_reason"] != "UNSIGNED_DEVICE"


async def start_cross_signed(synapse: LocalSynapse, accounts: Accounts, config: Any) -> BotRunner:
    """A started bot, after checking that it cross-signed its device at start
    (bot/matrix/cross_signing_setup.py); stopped again when it did not."""
    runner = BotRunner(config)
    await runner.start()
    if not await bot_is_cross_signed(synapse, accounts, config):
        await runner.stop()
        raise AssertionError(NOT_CROSS_SIGNED)
    return runner


async def test_default_settings_replies_are_readable_also_after_a_restart(
    synapse: LocalSynapse,
    accounts: Accounts,
    tmp_path: Path,
    tag: str,
    element_member: Callable[..., Any],
) -> None:
    config = config_for(synapse, accounts, tmp_path, tag)
    runner = BotRunner(config)
    await runner.start()
    try:
        member: ElementMember = await element_member()
        await member.open_dm()
        started = time.monotonic()
        first = await member.ask("!help")
        first_s = time.monotonic() - started
        await runner.stop()
        await runner.start()
        started = time.monotonic()
        after_restart = await member.ask("!help")
        restart_s = time.monotonic() - started
    finally:
        await runner.stop()
    print(
        f"[element default] member ready in {member.start_s:.1f}s, reply {first_s:.1f}s, after restart {restart_s:.1f}s; {summary(first)}"
    )
    for reply in (first, after_restart):
        assert readable(reply), reply
        assert reply["msgtype"] == "m.notice"
        assert "!help" in reply["body"] or "help" in reply["body"].lower()
    assert all(r["decrypted"] for r in member.from_bot()), member.from_bot()


async def test_strict_member_and_a_bot_not_cross_signed_is_told_within_seconds(
    synapse: LocalSynapse,
    accounts: Accounts,
    tmp_path: Path,
    tag: str,
    element_member: Callable[..., Any],
) -> None:
    """Element's client withholds the room key from a device its owner did not sign; the
    bot says so at once, and the member must be able to read that."""
    config = config_for(synapse, accounts, tmp_path, tag)
    assert config.matrix.undecryptable_wait_s >= 60  # waiting it out would fail below
    runner = BotRunner(config)
    await runner.start()
    try:
        if await bot_is_cross_signed(synapse, accounts, config):
            # A bot that signs its own device at start: someone with the bot's password
            # resets its identity in another client; until the bot signs again, its device
            # is not signed by the account's keys, which is the case this test is about.
            bot_user = accounts.user_id("kennisbrug")
            before = master_key(await bot_keys(synapse, accounts), bot_user)
            log = tmp_path / "bot-identity.log"
            await new_identity(synapse.base_url, bot_user, accounts.passwords["kennisbrug"], log)
            after = master_key(await bot_keys(synapse, accounts), bot_user)
            print(f"[element strict] the bot's account has a new identity: master key {before} -> {after}")
            assert after is not None and after != before
            assert not await bot_is_cross_signed(synapse, accounts, config)
        member: ElementMember = await element_member(strict=True)
        await member.open_dm()
        started = time.monotonic()
        asked = await member.send("!help")
        notice = await member.first_from_bot(timeout=20)
        told_s = time.monotonic() - started
        # A key for the notice may follow it by a moment: give the client a fair chance.
        with contextlib.suppress(AssertionError):
            await member.until(lambda: latest(member, notice)["decrypted"] or None, 5, "its decryption")
    finally:
        await runner.stop()
    notice = latest(member, notice)
    print(f"[element strict, bot not cross-signed] told after {told_s:.1f}s: {notice}")
    assert told_s < 15
    # What the member's client can show: readable text, encrypted or not.
    assert notice["body"], f"the member cannot read the bot's notice: {notice}"
    assert "Verifieer mij" in notice["body"]
    assert notice["in_reply_to"] == asked
    # Unencrypted: an app that excludes the bot's device will not decrypt what it sends.
    assert notice["encrypted"] is False


async def test_the_shield_on_the_bots_replies_is_not_red_once_it_is_cross_signed(
    synapse: LocalSynapse,
    accounts: Accounts,
    tmp_path: Path,
    tag: str,
    element_member: Callable[..., Any],
) -> None:
    config = config_for(synapse, accounts, tmp_path, tag)
    runner = await start_cross_signed(synapse, accounts, config)
    try:
        bot_user = accounts.user_id("kennisbrug")
        identity = master_key(await bot_keys(synapse, accounts), bot_user)
        member: ElementMember = await element_member()
        await member.open_dm()
        reply = await member.ask("!help")
        # A restart keeps the identity the member's client has seen: no new master key.
        await runner.stop()
        await runner.start()
        after_restart = await member.ask("!help")
        assert master_key(await bot_keys(synapse, accounts), bot_user) == identity
    finally:
        await runner.stop()
    print(f"[element shield] {summary(reply)}; after a restart {summary(after_restart)}")
    for answer in (reply, after_restart):
        assert readable(answer), answer
        assert not_red(answer), answer


async def test_strict_member_and_a_cross_signed_bot_read_replies_from_the_first_message(
    synapse: LocalSynapse,
    accounts: Accounts,
    tmp_path: Path,
    tag: str,
    element_member: Callable[..., Any],
) -> None:
    config = config_for(synapse, accounts, tmp_path, tag)
    runner = await start_cross_signed(synapse, accounts, config)
    try:
        member: ElementMember = await element_member(strict=True)
        await member.open_dm()
        started = time.monotonic()
        first = await member.ask("!help")
        first_s = time.monotonic() - started
        second = await member.ask("!taal")
    finally:
        await runner.stop()
    print(f"[element strict, cross-signed bot] first reply {first_s:.1f}s: {summary(first)}")
    for reply in (first, second):
        assert readable(reply), reply
        assert not_red(reply), reply
    assert all(r["decrypted"] for r in member.from_bot()), member.from_bot()


async def test_a_member_verifies_the_bot_with_emoji_and_its_replies_are_verified(
    synapse: LocalSynapse,
    accounts: Accounts,
    tmp_path: Path,
    tag: str,
    element_member: Callable[..., Any],
) -> None:
    """In-room SAS verification as Element does it from the bot's profile: the member's
    client ends with the bot's identity verified, and the shield on its replies is clean."""
    config = config_for(synapse, accounts, tmp_path, tag)
    runner = await start_cross_signed(synapse, accounts, config)
    try:
        member: ElementMember = await element_member(strict=True)
        await member.open_dm()
        before = await member.ask("!help")
        verified = await member.verify_bot()
        after = await member.ask("!help")
        told = [r["body"] for r in member.from_bot() if r["body"] and "verifi" in r["body"]]
    finally:
        await runner.stop()
    print(f"[element verify] {verified}; before {summary(before)}; after {summary(after)}; told {told}")
    assert verified["is_verified"] is True, verified
    assert verified["cross_signing_verified"] is True, verified
    assert readable(after), after
    assert after["shield"] == "NONE" and after["shield_reason"] is None, after
    # The member was told, in the bot's words, that the request was taken and that it worked.
    assert any("vergelijk de emoji" in body.lower() for body in told), told
    assert any("geverifieerd" in body for body in told), told
