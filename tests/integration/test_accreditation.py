"""Accreditation end to end on a real Synapse with real matrix-nio clients: a meeting is
announced, three members with numbers of different registers sign up and check in by
code (one too late, and marked by hand), the organiser gets the per-register lists and
the CSV, attendees get their certificates the next morning, and erasing a member takes
their numbers away."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from nio import MemoryDownloadResponse, RoomMessageFile, RoomMessageImage, RoomMessageNotice

from bot.clock import OffsetClock
from bot.config import Config, parse_config
from bot.devtools.synapse import LocalSynapse
from bot.storage import Database
from commands.accreditation.feature import Accreditation
from commands.events.feature import Events
from tests.integration.conftest import SERVER, Accounts, BotRunner, Member, bot_config_dict, open_dm
from tests.privacy_scan import rows_mentioning

pytestmark = pytest.mark.integration
BOT = f"@kennisbrug:{SERVER}"
CODE = re.compile(r"De code is \*\*([A-Z2-9]{3}) ([A-Z2-9]{3})\*\*")


@pytest.fixture
def bot_config(synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str) -> Config:
    raw = bot_config_dict(synapse, accounts, tmp_path, tag)
    raw["rooms"]["events"] = f"#bijeenkomsten-{tag}:{SERVER}"
    raw["flood"] = {"burst": 100, "seconds_per_command": 0.05}
    raw["matrix"]["encrypt_private_rooms"] = False
    return parse_config(raw, tmp_path / "bot.yaml", env={})


async def _wait(
    member: Member, predicate: Callable[[str, Any], bool], timeout: float = 30
) -> tuple[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        for room, event in member.seen:
            if predicate(room, event):
                return room, event
        if time.monotonic() > deadline:
            shown = [getattr(e, "body", "")[:80] for _, e in member.seen[-6:]]
            raise AssertionError(f"waited {timeout}s; last: {shown}")
        await member.sync_once(1000)
        for room_id in list(member.client.invited_rooms):
            await member.client.join(room_id)


def _file(room: str, suffix: str, since: int) -> Callable[[str, Any], bool]:
    return lambda r, e: (
        r == room
        and isinstance(e, RoomMessageFile | RoomMessageImage)
        and e.body.endswith(suffix)
        and e.server_timestamp >= since
    )


async def _download(member: Member, event: Any) -> bytes:
    download = await member.client.download(mxc=event.url)
    assert isinstance(download, MemoryDownloadResponse)
    return bytes(download.body)


async def test_check_in_presence_lists_certificates_and_erasure(
    synapse: LocalSynapse, bot_config: Config, member_factory: Any, tag: str, tmp_path: Path
) -> None:
    clock = OffsetClock()
    runner = BotRunner(bot_config, clock=clock)
    await runner.start()
    try:
        alice: Member = await member_factory("alice")
        members = {name: await member_factory(name) for name in ("bob", "carol", "dave")}
        room = await alice.join(bot_config.rooms["events"])
        dms = {}
        numbers = {"bob": "BIG=12345678901", "carol": "SRA=4321", "dave": "NIP=00123456"}
        for name, member in members.items():
            # Numbers first, then into the events room (whose welcome would come in between).
            dms[name] = await open_dm(member, BOT)
            saved = await member.ask(
                dms[name], f'!profiel zet registratie {numbers[name]} naam="{name.title()} Test"'
            )
            assert "Opgeslagen" in saved.body
            await member.join(room)
        alice_dm = await open_dm(alice, BOT)

        title = f"Casus FML {tag}"
        announced = await alice.ask(
            room,
            f'!event nieuw titel="{title}" datum=13-04-2027 tijd=09:30-12:30 plaats=Utrecht '
            'accreditatie="3 punten BIG, SRA en NIP"',
            timeout=30,
        )
        assert "Aangekondigd" in announced.body
        assert runner.app is not None
        events = next(f for f in runner.app.features if isinstance(f, Events))
        event = (await events.store.upcoming(clock.now()))[-1]
        for member in members.values():
            assert "Je bent aangemeld" in (await member.ask(room, f"!aanmelden {event.id}")).body

        async def move_to(moment: datetime) -> None:
            clock.advance(moment - clock.now())
            assert runner.app is not None
            await runner.app.services.scheduler.catch_up()

        # At the meeting: the organiser gets the code and the image for the screen.
        await move_to(event.starts_at - timedelta(minutes=10))
        since = int(time.time() * 1000) - 1000
        assert "privégesprek" in (await alice.ask(room, f"!event checkin {event.id}")).body
        _, issued = await _wait(
            alice, lambda r, e: r == alice_dm and isinstance(e, RoomMessageNotice) and "De code is" in e.body
        )
        found = CODE.search(issued.body)
        assert found, issued.body
        code = found.group(1) + found.group(2)
        _, image = await _wait(alice, _file(alice_dm, ".png", since))
        assert (await _download(alice, image))[:8] == b"\x89PNG\r\n\x1a\n"

        await move_to(event.starts_at + timedelta(minutes=2))
        for name in ("bob", "carol"):
            answer = await members[name].ask(dms[name], f"!inchecken {found.group(1)} {found.group(2)}")
            assert "Je bent ingecheckt om 09:32" in answer.body
        assert "er verandert niets" in (await members["bob"].ask(dms["bob"], f"!inchecken {code}")).body
        assert "ken ik niet" in (await members["bob"].ask(dms["bob"], "!inchecken ZZZ ZZZ")).body
        # Dave comes to it after the meeting: too late; the organiser marks him by hand.
        await move_to(event.ends_at + timedelta(hours=1))
        assert "werkt niet meer" in (await members["dave"].ask(dms["dave"], f"!inchecken {code}")).body
        marked = await alice.ask(room, f"!event aanwezig {event.id} {members['dave'].user_id}")
        assert "3 aanwezigen" in marked.body

        # The lists per register, and the CSV, in the organiser's DM.
        since = int(time.time() * 1000) - 1000
        await alice.send(alice_dm, f"!event presentie {event.id}")
        _, report = await _wait(
            alice,
            lambda r, e: r == alice_dm and isinstance(e, RoomMessageNotice) and "Presentie van" in e.body,
        )
        for line in ("BIG-12345678901", "SRA-4321", "NIP-00123456"):
            assert line in report.body
        assert "Alle aanwezigen hebben een registratienummer" in report.body
        _, sheet = await _wait(alice, _file(alice_dm, ".csv", since))
        rows = list(
            csv.reader(io.StringIO((await _download(alice, sheet)).decode("utf-8-sig")), delimiter=";")
        )
        assert rows[0] == ["naam", "beroep", "register", "nummer", "ingecheckt om", "duur"]
        by_name = {r[0]: r for r in rows[1:]}
        assert by_name["Bob Test"][2:] == ["BIG", "BIG-12345678901", "2027-04-13 09:32", "3:00"]
        assert by_name["Dave Test"][2:] == ["NIP", "NIP-00123456", "", "3:00"]

        # The next morning at 09:00 every attendee has a certificate in the DM.
        since = int(time.time() * 1000) - 1000
        await move_to(datetime(2027, 4, 14, 7, 0, 5, tzinfo=UTC))
        pdfs = {}
        for name, member in members.items():
            _, pdf = await _wait(member, _file(dms[name], ".pdf", since))
            pdfs[name] = await _download(member, pdf)
            assert pdfs[name].startswith(b"%PDF")
        if shutil.which("pdftotext"):
            (tmp_path / "carol.pdf").write_bytes(pdfs["carol"])
            text = (
                await asyncio.to_thread(
                    subprocess.run,
                    ["pdftotext", str(tmp_path / "carol.pdf"), "-"],
                    check=True,
                    capture_output=True,
                    text=True,
                )
            ).stdout
            assert "Carol Test" in text and title in " ".join(text.split()) and "Bewijs van deelname" in text

        # Carol erases herself: her numbers and check-in go.
        accreditation = next(f for f in runner.app.features if isinstance(f, Accreditation))
        carol = members["carol"]
        await carol.send(dms["carol"], "!vergeet-mij")
        await _wait(
            carol, lambda r, e: isinstance(e, RoomMessageNotice) and "Wil je dat ik alles vergeet" in e.body
        )
        await carol.send(dms["carol"], "ja")
        await _wait(carol, lambda r, e: isinstance(e, RoomMessageNotice) and e.body.startswith("Klaar"))
        assert await accreditation.store.numbers([carol.user_id]) == {}
        db = Database(bot_config.database.url)
        try:
            assert await rows_mentioning(db, carol.user_id) == []
        finally:
            await db.dispose()
    finally:
        await runner.stop()
