"""The organisers' report on a real Synapse with real matrix-nio clients: a moderator
gets the report in a DM with both charts (valid PNGs of the expected size) and the
CSV; a member is refused."""

from __future__ import annotations

import csv
import io
import struct
from pathlib import Path
from typing import Any

import pytest
from nio import DownloadResponse, RoomMessageFile, RoomMessageImage

from bot.config import Config, parse_config
from bot.devtools.synapse import LocalSynapse
from commands.introductions.store import ProfileStore
from commands.stats.charts import HEIGHT_PX, WIDTH_PX
from tests.integration.conftest import Accounts, BotRunner, Member, bot_config_dict, open_dm
from tests.integration.test_buddy import say

pytestmark = pytest.mark.integration


@pytest.fixture
def bot_config(synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str) -> Config:
    raw = bot_config_dict(synapse, accounts, tmp_path, tag)
    raw["flood"] = {"burst": 100, "seconds_per_command": 0.05}
    raw["matrix"]["encrypt_private_rooms"] = False
    return parse_config(raw, tmp_path / "bot.yaml", env={})


async def download(member: Member, url: str) -> bytes:
    response = await member.client.download(url)
    assert isinstance(response, DownloadResponse), response
    return bytes(response.body)


async def files(member: Member, room: str, count: int) -> list[Any]:
    return await member.wait_for(
        lambda r, e: r == room and isinstance(e, RoomMessageImage | RoomMessageFile), timeout=30, count=count
    )


async def test_a_moderator_gets_report_charts_and_csv_and_a_member_is_refused(
    bot_config: Config, member_factory: Any
) -> None:
    runner = BotRunner(bot_config)
    await runner.start()
    try:
        alice, bob, carol, dave, erin = [
            await member_factory(n) for n in ("alice", "bob", "carol", "dave", "erin")
        ]
        assert runner.app is not None
        profiles = ProfileStore(runner.app.services.db, runner.app.services.clock)
        await profiles.save(bob.user_id, {"profession": "arbeidsdeskundige", "listed": True})
        for member in (carol, dave, erin):
            await profiles.save(member.user_id, {"profession": "bedrijfsarts", "listed": True})
        theme = await bob.join(bot_config.themes[0].room)
        root = await bob.send(theme, "Wie herkent een casus waarin spoor 2 te laat begon?")
        for member in (carol, dave, erin):
            await member.join(theme)
            await member.send(
                theme, "Ja, herkenbaar.", **{"m.relates_to": {"m.in_reply_to": {"event_id": root}}}
            )

        # A member is refused.
        bob_dm = await open_dm(bob, bot_config.matrix.user_id)
        refusal = await bob.ask(bob_dm, "!stats")
        assert "moderator" in refusal.body.lower()

        # The moderator asks in her DM.
        alice_dm = await open_dm(alice, bot_config.matrix.user_id)
        report = await say(alice, alice_dm, "!statistieken periode=30d", "in cijfers")
        assert "Bedrijfsarts → Arbeidsdeskundige: 3" in report
        assert "Arbeidsdeskundige: <3" in report  # one labour expert: suppressed
        assert "herkenbaar" not in report
        images = await files(alice, alice_dm, 2)
        assert len(images) == 2
        for image in images:
            data = await download(alice, image.url)
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
            assert struct.unpack(">II", data[16:24]) == (WIDTH_PX, HEIGHT_PX)

        await say(alice, alice_dm, "!stats export", "CSV")
        [export] = [e for e in await files(alice, alice_dm, 3) if isinstance(e, RoomMessageFile)]
        text = (await download(alice, export.url)).decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
        matrix = {
            (r["profession"], r["to_profession"]): r["value"] for r in rows if r["section"] == "interactions"
        }
        assert matrix == {("bedrijfsarts", "arbeidsdeskundige"): "3"}
        assert bob.user_id not in text and "herkenbaar" not in text
    finally:
        await runner.stop()
