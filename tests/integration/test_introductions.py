"""Introductions as a new member meets them, on a real Synapse with real matrix-nio
clients: one welcome DM, the whole dialogue (with a wrong answer, ``terug``,
``overslaan`` and a bot restart half-way), the card, the directory, export and erasure."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from nio import (
    MemoryDownloadResponse,
    RedactedEvent,
    RoomEncryptedFile,
    RoomGetEventResponse,
    RoomMessageNotice,
)
from nio.crypto.attachments import decrypt_attachment

from bot.config import Config, parse_config
from bot.devtools.synapse import LocalSynapse
from bot.storage import Database
from tests.integration.conftest import (
    Accounts,
    BotRunner,
    Member,
    barrier,
    bot_config_dict,
    is_text,
    outbox_barrier,
)
from tests.privacy_scan import rows_mentioning

pytestmark = pytest.mark.integration


@pytest.fixture
def bot_config(synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str) -> Config:
    """The shared test config; flood control opened up, since this member answers
    fourteen questions faster than any person types."""
    raw = bot_config_dict(synapse, accounts, tmp_path, tag)
    raw["flood"] = {"burst": 100, "seconds_per_command": 0.05}
    return parse_config(raw, tmp_path / "bot.yaml", env={})


async def _accept_invites(member: Member) -> None:
    for room_id in list(member.client.invited_rooms):
        await member.client.join(room_id)


async def _welcome_dm(member: Member, since_ms: int, timeout: float = 30) -> tuple[str, Any]:
    """Sync (accepting the bot's DM invite) until the welcome arrives; its room is the DM.

    Only a welcome sent after ``since_ms`` counts: joining an old invite brings that
    room's history, which may hold a welcome from another test's bot."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await member.sync_once(1000)
        await _accept_invites(member)
        for room_id, event in member.seen:
            recent = event.server_timestamp >= since_ms
            if isinstance(event, RoomMessageNotice) and "Welkom bij" in event.body and recent:
                return room_id, event
    raise AssertionError("no welcome DM arrived")


async def _answer(member: Member, room: str, text: str, expect: str, timeout: float = 20) -> str:
    """Send ``text`` and wait for a notice after it that contains ``expect``; returns it."""
    await member.sync_once(100)
    start = len(member.seen)
    await member.send(room, text)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for room_id, event in member.seen[start:]:
            if room_id == room and isinstance(event, RoomMessageNotice) and expect in event.body:
                return str(event.body)
        await member.sync_once(1000)
    later = [e.body for r, e in member.seen[start:] if r == room and is_text(e)]
    raise AssertionError(f"after {text!r} expected {expect!r}; the bot said {later}")


async def test_new_member_onboarding_directory_export_and_erasure(
    bot: BotRunner, bot_config: Config, member_factory: Any, encrypted_member_factory: Any
) -> None:
    # Bob's client encrypts, as Element does: the welcome DM the bot opens is encrypted.
    bob: Member = await encrypted_member_factory("bob")
    joined_at_ms = int(time.time() * 1000) - 1000  # the homeserver's clock is this machine's
    await bob.join(bot_config.rooms["welcome"])
    dm, welcome = await _welcome_dm(bob, joined_at_ms)
    assert bob.client.rooms[dm].encrypted
    assert "Mag ik bewaren" in welcome.body and "!vergeet-mij" in welcome.body

    await _answer(bob, dm, "ja", "Wat is je beroep?")
    await _answer(bob, dm, "AD", "Hoe lang zit je in het vak?")
    await _answer(bob, dm, "heel lang al", "staat er niet tussen")  # a wrong answer, explained
    await _answer(bob, dm, "ervaren", "Hoeveel jaar")
    back = await _answer(bob, dm, "terug", "Hoe lang zit je in het vak?")
    assert "Nu: **Ervaren**" in back
    await _answer(bob, dm, "ok", "Hoeveel jaar")
    await _answer(bob, dm, "overslaan", "In welke regio")

    # The bot restarts half-way; the conversation goes on where it was.
    await bot.stop()
    await bot.start()
    await _answer(bob, dm, "utrecht", "In wat voor omgeving")
    await _answer(bob, dm, "uwv", "Op welke dagen werk je")
    await _answer(bob, dm, "ma, di en do", "het liefst af")
    await _answer(bob, dm, "di", "Waar ben je naar op zoek")
    await _answer(bob, dm, "netwerk, buddy", "Welke thema's")
    await _answer(bob, dm, "1", "Met welke beroepen")
    await _answer(bob, dm, "bedrijfsarts, VA", "Vertel iets over jezelf")
    await _answer(bob, dm, "Arbeidsdeskundige bij het UWV, graag over de grenzen heen.", "Hoe weeg jij")
    await _answer(bob, dm, "Ik begin bij wat iemand nog wel kan.", "Mogen andere leden je vinden")
    await _answer(bob, dm, "ja", "Mag jouw tekst daarvoor")
    await _answer(bob, dm, "nee", "kort overzicht")  # the digest, opt-in
    await _answer(bob, dm, "ja", "accreditatiepunten")  # last: registration numbers
    thanks = await _answer(bob, dm, "ja", "Dank je wel")
    assert "voorstelkaartje" in thanks and "Je ontvangt het overzicht elke maandag" in thanks
    assert "profiel zet registratie BIG=" in thanks

    # The card in the welcome room: a real message (not a notice) naming profession and region.
    welcome_room = (await bob.client.room_resolve_alias(bot_config.rooms["welcome"])).room_id
    [card] = await bob.wait_for(
        lambda r, e: (
            r == welcome_room and is_text(e) and "Arbeidsdeskundige" in e.body and bob.user_id in e.body
        )
    )
    assert "Utrecht" in card.body and "Mijn netwerk uitbreiden" in card.body
    assert "Bedrijfsarts, Verzekeringsarts" in card.body

    # Joining another room, even after the restart: no second welcome.
    theme_room = await bob.join(bot_config.themes[0].room)
    # The join is handled before the command after it, and a welcome queued then leaves
    # the outbox before a marker queued after that: past both, a second one would be here.
    await barrier(bob, theme_room)
    await outbox_barrier(bot, bob)
    welcomes = [e for _, e in bob.seen if isinstance(e, RoomMessageNotice) and "Welkom bij" in e.body]
    assert sum(e.server_timestamp >= joined_at_ms for e in welcomes) == 1

    # Another member finds bob by every filter and by free text.
    carol: Member = await member_factory("carol")
    room = await carol.join(bot_config.rooms["welcome"])
    for query in (
        "beroep=arbeidsdeskundige",
        "regio=utrecht",
        "ervaring=ervaren",
        "dag=di",
        "thema=buikpijndossiers",
        "zoekt=buddy",
        "ontmoet=verzekeringsarts",
        "grenzen",
        "beroep=AD regio=utrecht dag=ma zoekt=netwerk",
    ):
        result = await carol.ask(room, f"!zoek {query}")
        assert bob.user_id in result.body, (query, result.body)
    assert "niemand gevonden" in (await carol.ask(room, "!zoek beroep=jobcoach")).body
    assert "Ik begin bij wat iemand" in (await carol.ask(room, f"!profiel {bob.user_id}")).body

    # The export holds the profile.
    await bob.send(dm, "!mijngegevens")
    [file_event] = await bob.wait_for(lambda r, e: r == dm and isinstance(e, RoomEncryptedFile), timeout=20)
    download = await bob.client.download(mxc=file_event.url)
    assert isinstance(download, MemoryDownloadResponse)
    plain = decrypt_attachment(download.body, file_event.key["k"], file_event.hashes["sha256"], file_event.iv)
    data = json.loads(plain.decode("utf-8"))["data"]
    exported = data["introductions"]
    assert exported["profile"]["profession"] == "arbeidsdeskundige"
    assert exported["profile"]["work_days"] == ["ma", "di", "do"]
    assert exported["profile"]["meet_professions"] == ["bedrijfsarts", "verzekeringsarts"]
    assert data["digest"]["subscription"]["enabled"] is True  # the yes at onboarding

    # Erasure leaves no row naming bob, and the card is taken down.
    await _answer(bob, dm, "!vergeet-mij", "Wil je dat ik alles vergeet")
    await _answer(bob, dm, "ja", "Klaar")
    db = Database(bot_config.database.url)
    try:
        assert await rows_mentioning(db, bob.user_id) == []
    finally:
        await db.dispose()
    redacted = await bob.client.room_get_event(welcome_room, card.event_id)
    assert isinstance(redacted, RoomGetEventResponse) and isinstance(redacted.event, RedactedEvent)
    assert "niemand gevonden" in (await carol.ask(room, "!zoek beroep=arbeidsdeskundige")).body
