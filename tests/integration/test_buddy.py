"""A buddy request as members live it, on a real Synapse with real matrix-nio clients:
a refusal, a timeout (the bot's clock moved three days), a restart half-way, the
acceptance, the private room with its first agenda, a check-in and a stop."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from nio import RoomMessageNotice, RoomMessageText

from bot.clock import OffsetClock
from bot.config import Config, parse_config
from bot.devtools.synapse import LocalSynapse
from commands.introductions.store import ProfileStore
from tests.integration.conftest import Accounts, BotRunner, Member, bot_config_dict

pytestmark = pytest.mark.integration


@pytest.fixture
def bot_config(synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str) -> Config:
    """Members answer faster than people, and nudges may come at any hour in a test."""
    raw = bot_config_dict(synapse, accounts, tmp_path, tag)
    raw["flood"] = {"burst": 100, "seconds_per_command": 0.05}
    raw["nudges"] = {"weekly_budget": 20, "quiet_hours": "00:00-00:00", "quiet_weekends": False}
    return parse_config(raw, tmp_path / "bot.yaml", env={})


async def accept_invites(member: Member) -> None:
    for room_id in list(member.client.invited_rooms):
        await member.client.join(room_id)


async def wait_text(member: Member, expect: str, *, after: int = 0, timeout: float = 30) -> tuple[str, str]:
    """Sync (joining rooms the bot invites to) until a message containing ``expect``
    arrives; returns its room and body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for room_id, event in member.seen[after:]:
            if isinstance(event, RoomMessageNotice | RoomMessageText) and expect in event.body:
                return room_id, str(event.body)
        await member.sync_once(1000)
        await accept_invites(member)
    bodies = [getattr(e, "body", "") for _, e in member.seen[after:]]
    raise AssertionError(f"{member.user_id} waited for {expect!r}; saw {bodies}")


async def say(member: Member, room: str, text: str, expect: str) -> str:
    """Send and wait for the bot's notice in the same room containing ``expect``."""
    await member.sync_once(100)
    start = len(member.seen)
    await member.send(room, text)
    _, body = await wait_text(member, expect, after=start)
    return body


async def test_buddy_request_refusal_timeout_restart_acceptance_checkin_and_stop(
    bot_config: Config, encrypted_member_factory: Any
) -> None:
    # The members' clients encrypt, as Element does: the DMs and the pair room are encrypted.
    clock = OffsetClock()
    runner = BotRunner(bot_config, clock=clock)
    await runner.start()
    try:
        bob, carol, dave, erin = [await encrypted_member_factory(n) for n in ("bob", "carol", "dave", "erin")]
        assert runner.app is not None
        profiles = ProfileStore(runner.app.services.db, clock)
        for member, values in (
            (bob, {"profession": "arbeidsdeskundige", "experience": "frisse-blik", "region": "utrecht"}),
            (carol, {"profession": "arbeidsdeskundige", "experience": "diepgaand", "region": "utrecht"}),
            (dave, {"profession": "arbeidsdeskundige", "experience": "ervaren", "region": "gelderland"}),
            (erin, {"profession": "bedrijfsarts", "experience": "ervaren", "region": "limburg"}),
        ):
            await profiles.save(member.user_id, {**values, "listed": True})
        rooms = {}
        for member in (bob, carol, dave, erin):
            rooms[member.user_id] = await member.join(bot_config.rooms["welcome"])
        for member in (carol, dave, erin):
            await say(member, rooms[member.user_id], "!buddy beschikbaar ja", "beschikbaar als buddy")

        reply = await say(bob, rooms[bob.user_id], '!buddy zoek onderwerp="Een FML lezen als AD"', "collega gevraagd")
        assert "3 dagen" in reply

        # Carol, the best match, is asked first and declines.
        carol_dm, offer = await wait_text(carol, "Een collega zoekt een buddy")
        assert bob.user_id in offer and "Een FML lezen als AD" in offer
        number = re.search(r"buddy accepteer (\d+)", offer)
        assert number is not None
        await say(carol, carol_dm, f"!buddy weiger {number.group(1)}", "Ik vraag iemand anders")
        _, moved = await wait_text(bob, "iemand anders gevraagd")
        assert carol.user_id not in moved

        # Dave is asked next; the bot restarts while he thinks it over.
        await wait_text(dave, "Een collega zoekt een buddy")
        await runner.stop()
        await runner.start()

        # Three days without an answer: erin is asked, bob hears it moved on again.
        bob_seen = len(bob.seen)
        clock.advance(timedelta(days=3, minutes=1))
        await runner.app.services.scheduler.catch_up()
        erin_dm, offer = await wait_text(erin, "Een collega zoekt een buddy")
        await wait_text(bob, "iemand anders gevraagd", after=bob_seen)
        number = re.search(r"buddy accepteer (\d+)", offer)
        assert number is not None
        accepted = await say(erin, erin_dm, f"!buddy accepteer {number.group(1)}", "buddy's")
        assert bob.user_id in accepted

        # The private room for the two, with the first agenda from the questionnaire.
        bob_dm, matched = await wait_text(bob, "wil je buddy zijn")
        assert erin.user_id in matched
        pair_room, agenda = await wait_text(bob, "Een voorstel voor jullie eerste gesprek")
        assert "Bespreek samen een casus" in agenda and "Oefen samen met een hulpmiddel" in agenda
        await wait_text(erin, "Een voorstel voor jullie eerste gesprek")
        assert bob.client.rooms[pair_room].encrypted and bob.client.rooms[bob_dm].encrypted
        members = await bob.client.joined_members(pair_room)
        assert {m.user_id for m in members.members} >= {bob.user_id, erin.user_id}  # type: ignore[union-attr]
        assert carol.user_id not in {m.user_id for m in members.members}  # type: ignore[union-attr]

        # Two weeks later: "have you met yet?" through the nudge service.
        clock.advance(timedelta(weeks=2))
        for _ in range(2):
            await runner.app.services.scheduler.catch_up()
        await wait_text(bob, "Hebben jullie elkaar al gesproken?")
        await wait_text(erin, "Hebben jullie elkaar al gesproken?")
        await say(bob, pair_room, "!buddy checkin ja", "Fijn om te horen")

        # Erin ends the pair; bob hears so kindly.
        bob_seen = len(bob.seen)
        await say(erin, erin_dm, "!buddy stop", "is afgerond")
        _, ended = await wait_text(bob, "is afgerond", after=bob_seen)
        assert "Dank je wel voor het sparren" in ended
        status = await say(bob, bob_dm, "!buddy status", "buddy-overzicht")
        assert "(afgerond)" in status
    finally:
        await runner.stop()
