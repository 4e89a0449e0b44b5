"""In-room SAS verification (bot/matrix/verification.py) against a member side run with vodozemac.

The member's side here computes what the spec says a client computes (the MAC info
strings, the commitment), so a bot that got a string wrong fails these tests; the
end-to-end check with Element's own stack is tests/integration/test_element_client.py.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import vodozemac
from canonicaljson import encode_canonical_json

from bot.clock import FakeClock
from bot.ids import EventId, RoomId, UserId
from bot.matrix.events import EventBasics
from bot.matrix.verification import MAX_FLOWS, InRoomVerification, commitment, is_verification, mac_info
from bot.transport import IncomingEvent, VerificationNotice

BOT, BOT_DEVICE, BOT_KEY, MASTER = UserId("@kb:hs"), "BOTDEV", "botdevicekey", "botmasterkey"
MEMBER, MEMBER_DEVICE, MEMBER_KEY = UserId("@ann:hs"), "ANNDEV", "anndevicekey"
ROOM = RoomId("!dm")
REQUEST = EventId("$request")
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def test_the_mac_info_is_the_specs_string() -> None:
    assert mac_info("@a:hs", "DA", "@b:hs", "DB", "$tx") == "MATRIX_KEY_VERIFICATION_MAC@a:hsDA@b:hsDB$tx"


def test_the_commitment_is_sha256_of_key_and_canonical_start_unpadded() -> None:
    start = {
        "method": "m.sas.v1",
        "from_device": "D",
        "m.relates_to": {"rel_type": "m.reference", "event_id": "$r"},
    }
    digest = hashlib.sha256(b"KEY" + encode_canonical_json(start)).digest()
    assert commitment("KEY", start) == base64.b64encode(digest).decode().rstrip("=")
    assert "=" not in commitment("KEY", start)


def test_which_events_are_verification_steps() -> None:
    assert is_verification("m.room.message", {"msgtype": "m.key.verification.request"})
    assert is_verification("m.key.verification.mac", {})
    assert not is_verification("m.room.message", {"msgtype": "m.text"})


class Member:
    """The member's side of one flow, as a client computes it."""

    def __init__(self) -> None:
        self.sas = vodozemac.Sas()
        self.established: vodozemac.EstablishedSas | None = None
        self.start: dict[str, Any] = {}

    def relates(self) -> dict[str, Any]:
        return {"rel_type": "m.reference", "event_id": REQUEST}

    def mac(self, keys: dict[str, str], wrong: bool = False) -> dict[str, Any]:
        assert self.established is not None
        info = mac_info(MEMBER, MEMBER_DEVICE, BOT, BOT_DEVICE, REQUEST)
        macs = {
            k: self.established.calculate_mac(v + ("x" if wrong else ""), info + k) for k, v in keys.items()
        }
        ids = ",".join(sorted(keys))
        return {
            "mac": macs,
            "keys": self.established.calculate_mac(ids, info + "KEY_IDS"),
            "m.relates_to": self.relates(),
        }


class Setup:
    def __init__(self) -> None:
        self.clock = FakeClock(NOW)
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.notices: list[IncomingEvent] = []
        self.verification = InRoomVerification(
            BOT,
            lambda: BOT_DEVICE,
            lambda: BOT_KEY,
            lambda: MASTER,
            lambda user, device: MEMBER_KEY if (user, device) == (MEMBER, MEMBER_DEVICE) else None,
            self.send,
            self.clock,
        )
        self.count = 0

    async def send(self, room_id: RoomId, event_type: str, content: dict[str, Any]) -> object:
        assert room_id == ROOM
        self.sent.append((event_type, content))
        return None

    async def notify(self, event: IncomingEvent) -> None:
        self.notices.append(event)

    async def event(
        self,
        event_type: str,
        content: dict[str, Any],
        event_id: str | None = None,
        when: datetime | None = None,
        sender: UserId = MEMBER,
    ) -> None:
        self.count += 1
        ev = EventBasics(
            EventId(event_id or f"$e{self.count}"), event_type, sender, when or self.clock.now(), content
        )
        await self.verification.handle(ROOM, ev, self.notify)

    async def request(self, event_id: str = REQUEST, when: datetime | None = None) -> None:
        content = {
            "msgtype": "m.key.verification.request",
            "body": "",
            "to": BOT,
            "from_device": MEMBER_DEVICE,
            "methods": ["m.sas.v1", "m.qr_code.show.v1"],
        }
        await self.event("m.room.message", content, event_id, when)

    def types(self) -> list[str]:
        return [t.removeprefix("m.key.verification.") for t, _ in self.sent]


async def run_until_keys(setup: Setup) -> Member:
    member = Member()
    await setup.request()
    member.start = {
        "from_device": MEMBER_DEVICE,
        "method": "m.sas.v1",
        "key_agreement_protocols": ["curve25519-hkdf-sha256", "curve25519"],
        "hashes": ["sha256"],
        "message_authentication_codes": ["hkdf-hmac-sha256.v2", "hkdf-hmac-sha256"],
        "short_authentication_string": ["decimal", "emoji"],
        "m.relates_to": member.relates(),
    }
    await setup.event("m.key.verification.start", member.start)
    await setup.event(
        "m.key.verification.key", {"key": member.sas.public_key.to_base64(), "m.relates_to": member.relates()}
    )
    _, accept = setup.sent[1]
    _, key = setup.sent[2]
    # The member checks the bot's commitment to its key, as the starting side must.
    expected = hashlib.sha256(key["key"].encode() + encode_canonical_json(member.start)).digest()
    assert accept["commitment"] == base64.b64encode(expected).decode().rstrip("=")
    member.established = member.sas.diffie_hellman(vodozemac.Curve25519PublicKey.from_base64(key["key"]))
    return member


async def test_a_member_verifies_the_bot_and_the_bot_proves_device_and_master_key() -> None:
    setup = Setup()
    member = await run_until_keys(setup)
    assert setup.types() == ["ready", "accept", "key"]  # no MAC before the member confirmed
    _, accept = setup.sent[1]
    assert accept["message_authentication_code"] == "hkdf-hmac-sha256.v2"
    assert accept["short_authentication_string"] == ["emoji", "decimal"]
    assert all(c["m.relates_to"] == member.relates() for _, c in setup.sent)

    await setup.event(
        "m.key.verification.mac", member.mac({f"ed25519:{MEMBER_DEVICE}": MEMBER_KEY, "ed25519:theirs": "x"})
    )
    assert setup.types() == ["ready", "accept", "key", "mac", "done"]
    _, mac = setup.sent[3]
    assert member.established is not None
    info = mac_info(BOT, BOT_DEVICE, MEMBER, MEMBER_DEVICE, REQUEST)
    keys = {f"ed25519:{BOT_DEVICE}": BOT_KEY, f"ed25519:{MASTER}": MASTER}
    assert mac["mac"] == {k: member.established.calculate_mac(v, info + k) for k, v in keys.items()}
    assert mac["keys"] == member.established.calculate_mac(",".join(sorted(keys)), info + "KEY_IDS")
    stages = [n.stage for n in setup.notices if isinstance(n, VerificationNotice)]
    assert stages == ["accepted", "verified"]


async def test_a_wrong_mac_cancels_and_the_bot_proves_nothing() -> None:
    setup = Setup()
    member = await run_until_keys(setup)
    await setup.event(
        "m.key.verification.mac", member.mac({f"ed25519:{MEMBER_DEVICE}": MEMBER_KEY}, wrong=True)
    )
    assert setup.types() == ["ready", "accept", "key", "cancel"]
    assert setup.sent[-1][1]["code"] == "m.key_mismatch"
    assert [n.stage for n in setup.notices if isinstance(n, VerificationNotice)] == ["accepted", "cancelled"]
    # The flow is over: a late MAC is ignored.
    await setup.event("m.key.verification.mac", member.mac({f"ed25519:{MEMBER_DEVICE}": MEMBER_KEY}))
    assert setup.types()[-1] == "cancel"


async def test_an_unknown_method_is_cancelled() -> None:
    setup = Setup()
    await setup.request()
    start = {
        "from_device": MEMBER_DEVICE,
        "method": "m.sas.v1",
        "key_agreement_protocols": ["curve25519"],
        "hashes": ["sha256"],
        "message_authentication_codes": ["hkdf-hmac-sha256.v2"],
        "short_authentication_string": ["emoji"],
        "m.relates_to": Member().relates(),
    }
    await setup.event("m.key.verification.start", start)
    assert setup.types() == ["ready", "cancel"]
    assert setup.sent[-1][1]["code"] == "m.unknown_method"


@pytest.mark.parametrize("age", [timedelta(minutes=11), timedelta(minutes=-6)])
async def test_a_request_outside_the_ten_minutes_is_ignored(age: timedelta) -> None:
    setup = Setup()
    await setup.request(when=NOW - age)
    assert setup.sent == [] and setup.notices == []


async def test_a_flow_times_out_after_ten_minutes() -> None:
    setup = Setup()
    await setup.request()
    setup.clock.advance(timedelta(minutes=10, seconds=1))
    await setup.event("m.key.verification.start", {"method": "m.sas.v1", "m.relates_to": Member().relates()})
    assert setup.types() == ["ready"]  # the start of an expired flow is not answered


async def test_requests_to_someone_else_or_beyond_the_bound_are_ignored() -> None:
    setup = Setup()
    await setup.event(
        "m.room.message",
        {
            "msgtype": "m.key.verification.request",
            "to": "@other:hs",
            "from_device": "D",
            "methods": ["m.sas.v1"],
        },
    )
    assert setup.sent == []
    for n in range(MAX_FLOWS + 3):
        content = {
            "msgtype": "m.key.verification.request",
            "to": BOT,
            "from_device": "D",
            "methods": ["m.sas.v1"],
        }
        await setup.event("m.room.message", content, f"$r{n}", sender=UserId(f"@m{n}:hs"))
    assert setup.types().count("ready") == MAX_FLOWS
