"""The personal calendar feed on the real homeserver: a member signs up for a meeting,
asks ``!agenda-link`` in a DM with a real matrix-nio client, fetches the URL over
loopback HTTP like a calendar app would (no cookie, no login), finds the meeting under
the UID of its ``.ics`` file, revokes the link and then gets 404."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from icalendar import Calendar

from bot.config import Config, parse_config
from bot.devtools.synapse import LocalSynapse
from tests.integration.conftest import SERVER, Accounts, BotRunner, Member, bot_config_dict, open_dm
from tests.integration.test_organiser_web import free_port

pytestmark = pytest.mark.integration
BOT = f"@kennisbrug:{SERVER}"


@pytest.fixture
def bot_config(synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str) -> Config:
    raw = bot_config_dict(synapse, accounts, tmp_path, tag)
    raw["rooms"]["events"] = f"#bijeenkomsten-{tag}:{SERVER}"
    raw["matrix"]["encrypt_private_rooms"] = False
    raw["web"] = {"listen": f"127.0.0.1:{free_port()}"}
    return parse_config(raw, tmp_path / "bot.yaml", env={})


async def test_member_subscribes_to_their_feed_and_revokes_it(
    bot_config: Config, member_factory: Any, tag: str
) -> None:
    runner = BotRunner(bot_config)
    await runner.start()
    try:
        alice: Member = await member_factory("alice")
        bob: Member = await member_factory("bob")
        room = await alice.join(bot_config.rooms["events"])
        await bob.join(bot_config.rooms["events"])
        title = f"Casus FML {tag}"
        announced = await alice.ask(
            room, f'!event nieuw titel="{title}" datum=13-04-2027 tijd=09:30-12:30 plaats=Utrecht', timeout=30
        )
        assert "Aangekondigd" in announced.body, announced.body
        assert runner.app is not None
        events = next(f for f in runner.app.features if f.name == "events")
        [event] = [e for e in await events.store.upcoming(runner.app.services.clock.now()) if e.title == title]  # type: ignore[attr-defined]
        signed_up = await bob.ask(room, f"!aanmelden {event.id}", timeout=30)
        assert "Je bent aangemeld" in signed_up.body, signed_up.body

        dm = await open_dm(bob, BOT)
        told = await bob.ask(dm, "!agenda-link", timeout=30)
        found = re.search(r"(http://127\.0\.0\.1:\d+/agenda/[A-Za-z0-9_-]+\.ics)", told.body)
        assert found, told.body
        url = found.group(1)

        async with aiohttp.ClientSession() as http:
            async with http.get(url) as answer:
                assert answer.status == 200, await answer.text()
                assert answer.content_type == "text/calendar"
                calendar = Calendar.from_ical(await answer.read())
            [item] = calendar.walk("VEVENT")
            assert str(item["summary"]) == title and str(item["uid"]) == event.uid
            assert str(item["status"]) == "CONFIRMED"
            assert item["dtstart"].params["TZID"] == "Europe/Amsterdam"
            assert item["dtstart"].dt.hour == 9 and item["dtstart"].dt.minute == 30
            assert [str(z["tzid"]) for z in calendar.walk("VTIMEZONE")] == ["Europe/Amsterdam"]

            revoked = await bob.ask(dm, "!agenda-link intrekken", timeout=30)
            assert "ingetrokken" in revoked.body, revoked.body
            async with http.get(url) as answer:
                assert answer.status == 404
    finally:
        await runner.stop()
