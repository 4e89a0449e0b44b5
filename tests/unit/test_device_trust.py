"""Trust on first use (``matrix.trust: tofu``): the decision per member, and the same
decisions on a real nio crypto store fed signed key-query answers, as the homeserver
sends them. What the member reads is tested through the real router and catalogue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from nio import KeysQueryResponse
from nio.api import Api
from nio.crypto import OlmAccount

from bot.app import App
from bot.clock import FakeClock
from bot.config import parse_config
from bot.ids import EventId, UserId
from bot.matrix.client import BotClient, build_client
from bot.matrix.crypto import Crypto
from bot.matrix.device_trust import KnownDevice, SeenDevice, review
from bot.secrets import Secrets
from bot.storage.database import Database
from bot.transport import IncomingEvent, NewDevice
from tests.fakes import BOB, FakeTransport
from tests.privacy_scan import rows_mentioning

pytestmark = pytest.mark.both_databases

NOW = datetime(2027, 3, 16, 9, 0, tzinfo=UTC)
PHONE = SeenDevice("PHONE", "phone-key", "Element op Pixel")
LAPTOP = SeenDevice("LAPTOP", "laptop-key", "Element Desktop")


def known(*devices: SeenDevice, rejected: str | None = None) -> dict[str, KnownDevice]:
    return {d.device_id: KnownDevice(d.device_id, d.ed25519, d.display_name, NOW, rejected) for d in devices}


# ------------------------------------------------------------------ the decision


def test_the_devices_of_a_first_meeting_are_trusted_without_a_notice() -> None:
    result = review(None, [PHONE, LAPTOP], NOW)
    assert set(result.known) == {"PHONE", "LAPTOP"}
    assert result.added == [] and result.changed == [] and result.blacklist == set()


def test_a_device_that_appears_later_is_told_and_trusted_from_then_on() -> None:
    result = review(known(PHONE), [PHONE, LAPTOP], NOW)
    assert result.added == [LAPTOP] and result.changed == [] and result.blacklist == set()
    assert result.known["LAPTOP"].ed25519 == "laptop-key"
    again = review(result.known, [PHONE, LAPTOP], NOW)
    assert again.added == [] and again.known == result.known


def test_a_known_device_with_another_key_is_blacklisted_and_told_once_per_key() -> None:
    forged = SeenDevice("PHONE", "forged-key", "Element op Pixel")
    result = review(known(PHONE), [forged], NOW)
    assert result.changed == [forged] and result.added == []
    assert result.blacklist == {"PHONE"}
    assert result.known["PHONE"].ed25519 == "phone-key"  # the first key stays the trusted one
    again = review(result.known, [forged], NOW)
    assert again.changed == [] and again.blacklist == {"PHONE"}
    other = SeenDevice("PHONE", "another-forged-key")
    assert review(again.known, [other], NOW).changed == [other]


def test_the_trusted_key_coming_back_is_not_blacklisted() -> None:
    result = review(known(PHONE, rejected="forged-key"), [PHONE], NOW)
    assert result.changed == [] and result.blacklist == set()


# ------------------------------------------------------- a real store, signed answers


@dataclass
class Device:
    """A member's device with its own Olm account: it signs its published keys."""

    user_id: str
    device_id: str
    name: str
    account: OlmAccount

    @classmethod
    def new(cls, user_id: str, device_id: str, name: str = "") -> Device:
        return cls(user_id, device_id, name, OlmAccount())

    def payload(self) -> dict[str, Any]:
        keys = self.account.identity_keys
        body: dict[str, Any] = {
            "user_id": self.user_id,
            "device_id": self.device_id,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {
                f"ed25519:{self.device_id}": keys["ed25519"],
                f"curve25519:{self.device_id}": keys["curve25519"],
            },
        }
        signature = self.account.sign(Api.to_canonical_json(body))
        body["signatures"] = {self.user_id: {f"ed25519:{self.device_id}": signature}}
        body["unsigned"] = {"device_display_name": self.name}
        return body


class Bot:
    """The crypto side of the adapter on a real nio store in ``folder``; ``start`` again
    (a new client on the same store and database) is a restart."""

    def __init__(self, folder: Path, db: Database, trust: str = "tofu") -> None:
        raw = {
            "matrix": {
                "homeserver": "http://127.0.0.1:1",
                "user_id": "@kennisbrug:localhost",
                "password": "x",
                "store_path": str(folder),
                "store_key": "a-key-0123456789",
                "trust": trust,
            },
            "database": {"url": "sqlite+aiosqlite:///:memory:"},
            "community": {},
            "rooms": {"welcome": "#welkom:localhost"},
        }
        self.config = parse_config(raw, folder.parent / "bot.yaml", env={})
        self.db = db
        self.told: list[NewDevice] = []
        self.client: BotClient = build_client(self.config)
        self.crypto: Crypto | None = None

    async def start(self) -> Crypto:
        client = self.client
        client.user_id, client.device_id, client.access_token = "@kennisbrug:localhost", "BOTDEVICE", "t"
        crypto = Crypto(client, self.config, self.db, FakeClock(NOW), Secrets({}))
        await crypto.prepare()
        client.load_store()
        await crypto.trust.start()
        crypto.report_to(self.record)  # as the sync loop starts: the first batch flushes
        await crypto.trust.flush()
        self.crypto = crypto
        return crypto

    async def record(self, event: IncomingEvent) -> None:
        assert isinstance(event, NewDevice)
        self.told.append(event)

    async def restart(self, trust: str | None = None) -> Bot:
        await self.client.close()
        again = Bot(Path(self.config.matrix.store_path), self.db, trust or self.config.matrix.trust)
        await again.start()
        return again

    async def keys_answer(self, *devices: Device) -> None:
        """The homeserver's answer to a key query, as nio receives it; then the batch's flush."""
        by_user: dict[str, dict[str, Any]] = {}
        for device in devices:
            by_user.setdefault(device.user_id, {})[device.device_id] = device.payload()
        response = KeysQueryResponse.from_dict({"device_keys": by_user, "failures": {}})
        await self.client.receive_response(response)
        assert self.crypto is not None
        await self.crypto.trust.flush()

    def blacklisted(self, user_id: str, device_id: str) -> bool:
        olm = self.client.olm
        assert olm is not None
        return olm.is_device_blacklisted(olm.device_store[user_id][device_id])


@pytest.fixture
async def bot(tmp_path: Path, db: Database) -> AsyncIterator[Bot]:
    running = Bot(tmp_path / "store", db)
    await running.start()
    yield running
    await running.client.close()


async def test_a_second_device_is_told_once_and_never_again_after_a_restart(bot: Bot) -> None:
    phone = Device.new(BOB, "PHONE", "Element op Pixel")
    await bot.keys_answer(phone)
    assert bot.told == []  # the first meeting

    laptop = Device.new(BOB, "LAPTOP", "Element Desktop")
    await bot.keys_answer(phone, laptop)
    assert [(n.device_id, n.device_name, n.key_changed) for n in bot.told] == [
        ("LAPTOP", "Element Desktop", False)
    ]
    assert not bot.blacklisted(BOB, "LAPTOP")  # the member's new device keeps working
    await bot.keys_answer(phone, laptop)
    assert len(bot.told) == 1

    restarted = await bot.restart()
    await restarted.keys_answer(phone, laptop)
    assert restarted.told == []
    await restarted.client.close()


async def test_a_changed_key_is_blacklisted_told_once_and_stays_blacklisted(bot: Bot) -> None:
    phone = Device.new(BOB, "PHONE", "Element op Pixel")
    await bot.keys_answer(phone)
    impostor = Device.new(BOB, "PHONE", "Element op Pixel")  # same device id, another key

    await bot.keys_answer(impostor)
    assert [(n.device_id, n.key_changed) for n in bot.told] == [("PHONE", True)]
    assert bot.blacklisted(BOB, "PHONE")
    await bot.keys_answer(impostor)
    assert len(bot.told) == 1

    restarted = await bot.restart()
    assert restarted.blacklisted(BOB, "PHONE") and restarted.told == []
    await restarted.client.close()


async def test_a_key_answer_with_a_bad_signature_changes_nothing(bot: Bot) -> None:
    phone = Device.new(BOB, "PHONE")
    await bot.keys_answer(phone)
    forged = Device.new(BOB, "PHONE")
    payload = forged.payload()
    payload["signatures"] = phone.payload()["signatures"]  # not signed by the key it names
    response = KeysQueryResponse.from_dict({"device_keys": {BOB: {"PHONE": payload}}, "failures": {}})
    await bot.client.receive_response(response)
    assert bot.crypto is not None
    await bot.crypto.trust.flush()
    assert bot.told == [] and not bot.blacklisted(BOB, "PHONE")


async def test_a_device_stored_before_a_crash_is_told_at_the_next_start(bot: Bot) -> None:
    """nio wrote the new device to its store, but the bot stopped before the batch's
    flush: the next start finds it and tells the member (the same notice id, so the
    outbox would send a repeat once)."""
    phone = Device.new(BOB, "PHONE")
    await bot.keys_answer(phone)
    laptop = Device.new(BOB, "LAPTOP")
    by_user = {BOB: {"PHONE": phone.payload(), "LAPTOP": laptop.payload()}}
    await bot.client.receive_response(KeysQueryResponse.from_dict({"device_keys": by_user, "failures": {}}))
    notice = bot.crypto.trust._notices[0] if bot.crypto else None  # queued, not flushed

    restarted = await bot.restart()
    assert [n.device_id for n in restarted.told] == ["LAPTOP"]
    assert notice is not None and restarted.told[0].event_id == notice.event_id
    await restarted.client.close()


async def test_switching_policy_clears_the_blacklist_the_old_one_left(bot: Bot) -> None:
    """``verified`` blacklisted every device it could not verify (all of them); that must
    not outlive the switch to tofu or all, or members could never read the bot again."""
    phone, laptop = Device.new(BOB, "PHONE"), Device.new(BOB, "LAPTOP")
    await bot.keys_answer(phone, laptop)
    olm = bot.client.olm
    assert olm is not None
    for device in olm.device_store.active_user_devices(BOB):
        olm.blacklist_device(device)  # what trust: verified did
    impostor = Device.new(BOB, "PHONE")
    await bot.keys_answer(impostor, laptop)  # tofu rejects this one itself

    restarted = await bot.restart()
    assert not restarted.blacklisted(BOB, "LAPTOP")
    assert restarted.blacklisted(BOB, "PHONE")  # tofu's own rejection stays

    opted_out = await restarted.restart(trust="all")
    assert not opted_out.blacklisted(BOB, "PHONE") and not opted_out.blacklisted(BOB, "LAPTOP")
    assert await rows_mentioning(bot.db, BOB) == []  # all keeps no device records
    await opted_out.keys_answer(Device.new(BOB, "TABLET"))
    assert opted_out.told == []  # and tells nobody
    await opted_out.client.close()


async def test_the_records_are_exported_and_erased(bot: Bot) -> None:
    phone = Device.new(BOB, "PHONE", "Element op Pixel")
    await bot.keys_answer(phone)
    assert bot.crypto is not None
    assert await rows_mentioning(bot.db, BOB)
    exported = await bot.crypto.member_data(UserId(BOB))
    [trusted] = exported["trusted_devices"]
    assert trusted["device_id"] == "PHONE" and trusted["display_name"] == "Element op Pixel"
    assert trusted["ed25519"] == phone.account.identity_keys["ed25519"]

    assert await bot.crypto.forget_member(UserId(BOB)) >= 1
    assert await rows_mentioning(bot.db, BOB) == []
    assert "trusted_devices" not in await bot.crypto.member_data(UserId(BOB))


# ------------------------------------------------------------ what the member reads


async def test_the_member_is_told_in_their_dm_in_their_language(app: App, transport: FakeTransport) -> None:
    event = NewDevice(
        event_id=EventId("device-0123"),
        user_id=BOB,
        device_id="LAPTOP",
        device_name="<b>Element</b>",
        key_changed=False,
        timestamp=NOW,
    )
    await app.router.dispatch(event)
    await app.router.dispatch(event)  # a repeat after a crash: the same message
    await app.services.outbox.deliver_due()
    sent = [m for m in transport.sent if m.room_id == "!dm-bob"]
    assert len(sent) == 1
    assert sent[0].plain.startswith(
        "Er is een nieuw apparaat aan je account toegevoegd: <b>Element</b> (LAPTOP)."
    )
    assert "Verander dan meteen je wachtwoord" in sent[0].plain
    assert sent[0].html is not None and "<b>Element</b>" not in sent[0].html  # escaped

    await app.router.dispatch(
        NewDevice(EventId("device-4567"), BOB, "PHONE", "", key_changed=True, timestamp=NOW)
    )
    await app.services.outbox.deliver_due()
    changed = [m for m in transport.sent if m.room_id == "!dm-bob"][-1]
    assert changed.plain.startswith(
        "Een apparaat van je account, PHONE, heeft ineens een andere beveiligingssleutel."
    )
