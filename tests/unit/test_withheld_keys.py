"""Withheld room keys (issue 19): a key a member's client refuses is not waited for.

The decision runs in :class:`bot.matrix.sync.undecryptable.UndecryptableWait` with the
real durable list; only the crypto, ledger and rooms around it are small stand-ins.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.app import App
from bot.clock import FakeClock
from bot.ids import EventId, RoomId, UserId
from bot.matrix.sync.undecryptable import UndecryptableWait
from bot.matrix.undecrypted import PendingDecryptions
from bot.storage.database import Database
from bot.transport import IncomingEvent, Undecryptable
from tests.fakes import ALICE, FakeTransport

NOW = datetime(2027, 3, 16, 9, 0, tzinfo=UTC)
ANN = "@ann:localhost"


def encrypted(event_id: str, session: str = "s1", sender: str = ANN) -> dict[str, Any]:
    return {
        "type": "m.room.encrypted",
        "event_id": event_id,
        "sender": sender,
        "room_id": "!dm",
        "origin_server_ts": int(NOW.timestamp() * 1000),
        "content": {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AAA", "session_id": session, "sender_key": "k"},
    }


@dataclass
class ToDevice:
    source: dict[str, Any]


def withheld(code: str, session: str | None = "s1", kind: str = "m.room_key.withheld") -> ToDevice:
    content: dict[str, Any] = {"algorithm": "m.megolm.v1.aes-sha2", "code": code, "sender_key": "k", "reason": "x"}
    if session is not None:
        content.update(room_id="!dm", session_id=session)
    return ToDevice({"type": kind, "sender": ANN, "content": content})


class StubCrypto:
    """The parts of Crypto the wait uses; no key ever arrives."""

    enabled = True

    def __init__(self, pending: PendingDecryptions) -> None:
        self.pending = pending
        self.requested: list[str] = []

    def undecrypted(self, room_id: RoomId, source: Any, now: datetime) -> Any:
        from bot.matrix.undecrypted import Undecrypted

        return Undecrypted(source["event_id"], room_id, source["sender"], source["content"]["session_id"], now, source)

    async def request_key(self, item: Any) -> None:
        self.requested.append(item.event_id)

    def try_decrypt(self, item: Any) -> None:
        return None


@dataclass
class StubLedger:
    claimed: set[str] = field(default_factory=set)

    def known(self, event_id: str) -> bool:
        return event_id in self.claimed

    async def processed_ids(self, ids: Any) -> set[str]:
        return {i for i in ids if i in self.claimed}

    async def claim(self, room_id: RoomId, ev: Any) -> bool:
        if ev.event_id in self.claimed:
            return False
        self.claimed.add(ev.event_id)
        return True

    def finish(self, event_id: str, status: str) -> None:
        pass

    def checkpoint_soon(self) -> None:
        pass


class StubRooms:
    def is_direct_cached(self, room_id: RoomId) -> bool:
        return True


async def setup(db: Database) -> tuple[UndecryptableWait, PendingDecryptions, list[IncomingEvent]]:
    pending = PendingDecryptions(db, wait_s=60)
    await pending.load()
    wait = UndecryptableWait(
        StubCrypto(pending),  # type: ignore[arg-type]
        StubLedger(),  # type: ignore[arg-type]
        StubRooms(),  # type: ignore[arg-type]
        FakeClock(NOW),
        asyncio.Event(),
    )
    return wait, pending, []


async def never_handled(*_: Any) -> None:
    raise AssertionError("nothing was decrypted")


async def run_batch(wait: UndecryptableWait, reports: list[IncomingEvent], to_device: list[ToDevice], *sources: Any) -> None:
    """One sync batch as the loop runs it: to-device first, the timeline, then the retry."""

    async def handler(event: IncomingEvent) -> None:
        reports.append(event)

    from bot.matrix import events

    wait.note_withheld(to_device)
    for source in sources:
        ev = events.basics(source)
        assert ev is not None
        await wait.hold(RoomId("!dm"), source, ev, handler)
    await wait.retry(handler, never_handled)


@pytest.mark.parametrize("code", ["m.unverified", "m.blacklisted", "m.unauthorised", "m.unavailable", "m.no_olm"])
async def test_a_withheld_key_is_explained_at_once_with_its_code(db: Database, code: str) -> None:
    wait, pending, reports = await setup(db)
    await run_batch(wait, reports, [withheld(code)], encrypted("$1"))
    # No time passed (the wait is 60 s): the member hears at once, with the code.
    assert [(r.event_id, r.withheld) for r in reports if isinstance(r, Undecryptable)] == [("$1", code)]
    assert pending.items == {}


async def test_the_older_type_and_a_key_withheld_later_count_too(db: Database) -> None:
    wait, _, reports = await setup(db)
    await run_batch(wait, reports, [], encrypted("$1"))
    assert reports == []  # no code yet: it waits, as before
    await run_batch(wait, reports, [withheld("m.unverified", kind="org.matrix.room_key.withheld")])
    assert [r.withheld for r in reports if isinstance(r, Undecryptable)] == ["m.unverified"]


async def test_once_per_session_also_after_a_restart(db: Database) -> None:
    wait, _, reports = await setup(db)
    await run_batch(wait, reports, [withheld("m.unverified")], encrypted("$1"), encrypted("$2"))
    await run_batch(wait, reports, [], encrypted("$3"))
    assert len(reports) == 1

    again, _, later = await setup(db)  # a restart: the same session is not explained again
    await run_batch(again, later, [withheld("m.unverified")], encrypted("$4"))
    assert later == []
    # A new session withheld again is a new notice.
    await run_batch(again, later, [withheld("m.unverified", session="s2")], encrypted("$5", session="s2"))
    assert [r.event_id for r in later if isinstance(r, Undecryptable)] == ["$5"]


async def test_another_sessions_key_or_a_malformed_event_does_not_stop_the_wait(db: Database) -> None:
    wait, pending, reports = await setup(db)
    bad = ToDevice({"type": "m.room_key.withheld", "sender": ANN, "content": {"session_id": "s1"}})
    await run_batch(wait, reports, [withheld("m.unverified", session="other"), bad], encrypted("$1"))
    assert reports == [] and list(pending.items) == ["$1"]


async def test_the_member_is_told_what_to_do_in_their_language(app: App, transport: FakeTransport) -> None:
    report = Undecryptable(EventId("$1"), RoomId("!dm-alice"), UserId(ALICE), NOW, True, withheld="m.unverified")
    await app.router.dispatch(report)
    assert len(transport.sent) == 1
    assert "Verifieer mij" in transport.sent[0].plain and transport.sent[0].reply_to == "$1"
    # An app that withholds its keys will not decrypt the bot's messages either: in the clear.
    assert transport.sent[0].in_the_clear
    # Not a refusal (the device has no key, or no Olm session): the usual notice, at once.
    await app.router.dispatch(
        Undecryptable(EventId("$2"), RoomId("!dm-alice"), UserId(ALICE), NOW, True, withheld="m.no_olm")
    )
    assert "Stuur het gerust nog een keer" in transport.sent[1].plain
    assert not transport.sent[1].in_the_clear
