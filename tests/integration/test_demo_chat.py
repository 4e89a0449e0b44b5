"""The demo's terminal chat used as a person uses it: ``run_bot.py demo`` in a tmux pane
of a fixed size, keys typed, the screen read back with ``tmux capture-pane``.

One story: the welcome arrives in the direct chat and the introduction is walked there;
a command that belongs in the DM typed in the welcome room is offered there; a question
in the questions room, its thread opened and answered; the event card (posted by the
admin) gets a ✅ and the ``.ics`` lands in the DM, saved under the data folder with its
path on screen; the chat restarts and what is typed at once after ``/dm`` lands in the
DM. Every captured screen is printed, so the test output shows what a person saw.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from nio import AsyncClient, JoinError, LoginError

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux"),
]
PROJECT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 200, 50
START_TIMEOUT = 180  # a first start creates the homeserver and the community rooms
STEP_TIMEOUT = 45
# The bot's flood control (config defaults: a burst of 8, then one command per 1.5 s)
# counts every line a member sends; a person types slower than that, so the test does too.
PACE_S = 1.6


class Pane:
    """One tmux session running the demo; what a person sees and types."""

    def __init__(self, name: str, data: Path) -> None:
        self.name = name
        self.data = data
        self.starts = 0
        self.last_sent = 0.0
        self.tmux = ["tmux", "-u", "-L", name]

    def start(self) -> None:
        # A server of its own: no other tmux user's options or clients change the size.
        # A new one per start: the last one may still be shutting down.
        self.starts += 1
        self.tmux = ["tmux", "-u", "-L", f"{self.name}-{self.starts}"]
        command = " ".join(
            [
                # The size comes from the pane: a COLUMNS/LINES inherited from the test run would win.
                "env -u COLUMNS -u LINES LANG=C.UTF-8 LC_ALL=C.UTF-8",
                shlex.quote(sys.executable),
                shlex.quote(str(PROJECT / "run_bot.py")),
                "demo --data",
                shlex.quote(str(self.data)),
                # The pane stays after the demo ends, so its last words can be read.
                "; echo DEMO-EXITED-$?; sleep 600",
            ]
        )
        subprocess.run(
            [*self.tmux, "new-session", "-d", "-s", self.name, "-x", str(WIDTH), "-y", str(HEIGHT), command],
            check=True,
            cwd=PROJECT,
        )

    def stop(self) -> None:
        """End a demo still running as a person would (Ctrl-C), so it stops its homeserver."""
        if not self.screen().startswith("(no pane") and "DEMO-EXITED" not in self.screen():
            subprocess.run([*self.tmux, "send-keys", "-t", self.name, "C-c"], check=False)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and "DEMO-EXITED" not in self.screen():
                time.sleep(0.3)
        self.kill()

    def kill(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], check=False, capture_output=True)

    def screen(self) -> str:
        result = subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        )
        return result.stdout if result.returncode == 0 else f"(no pane: {result.stderr.strip()})"

    def text(self) -> str:
        """The message pane's text in one line: wrapped sentences join up again."""
        parts = []
        for line in self.screen().splitlines():
            parts.append(line.split("│", 1)[1] if "│" in line[:40] else line[32:])
        return " ".join(" ".join(parts).split())

    def shot(self, label: str) -> str:
        screen = self.screen()
        print(f"\n===== {label} =====\n{screen.rstrip()}\n", flush=True)
        return screen

    def type(self, line: str) -> None:
        if not line.startswith("/"):  # a line for the bot: at a person's pace
            time.sleep(max(0.0, self.last_sent + PACE_S - time.monotonic()))
            self.last_sent = time.monotonic()
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, "-l", line], check=True)
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, "Enter"], check=True)

    def wait_for(self, needle: str, timeout: float = STEP_TIMEOUT, raw: bool = False) -> str:
        """Poll the screen until ``needle`` shows (bounded); the screen is shown if not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self.screen() if raw else self.text()
            if needle in seen:
                return seen
            time.sleep(0.3)
        self.shot(f"waited {timeout:.0f} s for {needle!r}")
        raise AssertionError(f"{needle!r} did not appear on screen within {timeout:.0f} s")

    def answer(self, line: str, expect: str) -> None:
        self.type(line)
        self.wait_for(expect)

    def number_of(self, needle: str) -> int:
        """The number (#n) of the message whose text holds ``needle``: the header above it."""
        lines = [
            line.split("│", 1)[1] if "│" in line[:40] else line[32:] for line in self.screen().splitlines()
        ]
        hit = max(i for i, line in enumerate(lines) if needle in line)
        for line in reversed(lines[: hit + 1]):
            match = re.match(r"\s*#(\d+) ", line)
            if match:
                return int(match.group(1))
        raise AssertionError(f"no message header above {needle!r}")


def _event_date() -> str:
    """A Tuesday morning well ahead in one of the planning advice's good months (the
    example config's), so the one-line announcement needs no confirmation."""
    day = date.today() + timedelta(days=45)
    while day.month not in (3, 4, 5, 9, 10, 11) or day.weekday() != 1 or not 8 <= day.day <= 21:
        day += timedelta(days=1)
    return day.strftime("%d-%m-%Y")


async def _admin_announces(data: Path, title: str) -> None:
    """The admin (a second person, with any client) announces an event in the events room."""
    await asyncio.wait_for(_announce(data, title), 30)


async def _announce(data: Path, title: str) -> None:
    config = yaml.safe_load((data / "config.yaml").read_text(encoding="utf-8"))
    creds = json.loads((data / "credentials.json").read_text())
    client = AsyncClient(config["matrix"]["homeserver"], "@beheerder:localhost")
    try:
        assert not isinstance(await client.login(creds["beheerder"]), LoginError)
        joined = await client.join(config["rooms"]["events"])
        assert not isinstance(joined, JoinError), joined
        await client.room_send(
            joined.room_id,
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": f'!event nieuw titel="{title}" datum={_event_date()} tijd=09:30-13:00 '
                'plaats="Utrecht, Catharijnesingel 1" capaciteit=20',
            },
        )
    finally:
        await client.close()


async def _member_direct(data: Path, replace: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """The demo member's ``m.direct`` (read from a second device), optionally replaced;
    the demo's homeserver must be running."""
    return await asyncio.wait_for(_direct(data, replace), 30)


async def _direct(data: Path, replace: dict[str, list[str]] | None) -> dict[str, list[str]]:
    config = yaml.safe_load((data / "config.yaml").read_text(encoding="utf-8"))
    creds = json.loads((data / "credentials.json").read_text())
    client = AsyncClient(config["matrix"]["homeserver"], "@demo:localhost")
    try:
        assert not isinstance(await client.login(creds["demo"]), LoginError)
        path = "/_matrix/client/v3/user/%40demo%3Alocalhost/account_data/m.direct"
        headers = {"Authorization": f"Bearer {client.access_token}"}
        if replace is not None:
            await client.send("PUT", path, json.dumps(replace), headers)
        resp = await client.send("GET", path, None, headers)
        found: dict[str, list[str]] = await resp.json() if resp.status == 200 else {}
        return found
    finally:
        await client.logout()
        await client.close()


def test_demo_chat_as_a_person(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    pane = Pane(f"kb-demo-{tmp_path.name[-12:]}".replace(".", "-"), data)
    pane.start()
    try:
        pane.wait_for("Klaar. Je schrijft in Welkom.", timeout=START_TIMEOUT)
        # The bot opens the direct chat when the member enters the welcome room.
        pane.wait_for("Privé met kennisbrug", raw=True)
        pane.type("/help")
        pane.wait_for("This chat's commands")
        assert "/react 3 ✅" in pane.text() and "/kamer" in pane.text()
        pane.type("/onbekend")
        pane.wait_for("/onbekend ken ik niet (en ik heb het niet verstuurd)")

        # The introduction, in the direct chat.
        pane.type("/dm")
        pane.wait_for("Mag ik bewaren")
        for line, expect in [
            ("ja", "Wat is je beroep?"),
            ("AD", "Hoe lang zit je in het vak?"),
            ("ervaren", "Hoeveel jaar"),
            ("overslaan", "In welke regio"),
            ("utrecht", "In wat voor omgeving"),
            ("uwv", "Op welke dagen werk je"),
            ("ma, di en do", "het liefst af"),
            ("di", "Waar ben je naar op zoek"),
            ("netwerk, buddy", "Welke thema's"),
            ("1", "Met welke beroepen"),
            ("bedrijfsarts, VA", "Vertel iets over jezelf"),
            ("Arbeidsdeskundige bij het UWV.", "Hoe weeg jij"),
            ("Ik begin bij wat iemand nog wel kan.", "Mogen andere leden je vinden"),
            ("ja", "Mag jouw tekst daarvoor"),
            ("nee", "kort overzicht"),
            ("ja", "accreditatiepunten"),
            ("nee", "Dank je wel"),
        ]:
            pane.answer(line, expect)
        pane.shot("the introduction done, in the direct chat")

        # A DM command typed in a room is offered there, and sent only on /ja.
        pane.type("/kamer welkom")
        pane.wait_for("Je schrijft nu in Welkom.")
        pane.type("!instellingen")
        pane.wait_for("!instellingen hoort in je privégesprek met kennisbrug")
        pane.type("/ja")
        pane.wait_for("Je schrijft nu in Privé met kennisbrug.")
        pane.wait_for("!instellingen")  # sent, and shown in the direct chat

        # A question, its thread opened and answered.
        pane.type("/kamer vragen")
        pane.wait_for("Je schrijft nu in Vragen.")
        pane.type("!vraag bedrijfsarts Hoe lees ik een FML bij wisselende klachten?")
        pane.wait_for("Vraag aan")
        post = pane.number_of("Vraag aan")
        pane.type(f"/draad {post}")
        pane.wait_for(f"Je schrijft nu in de draad van #{post} in Vragen.")
        pane.type("Ik vraag eerst wat de werknemer zelf merkt op goede dagen.")
        shown = pane.wait_for("Ik vraag eerst wat de werknemer zelf merkt op goede dagen.")
        assert re.search(r"│ #\d+ jij \d\d:\d\d │ Ik vraag eerst", shown), shown  # under the root
        pane.type("/terug")
        pane.wait_for(f"1 antwoord in de draad — /draad {post}")
        pane.shot("the question with its thread")

        # The admin announces an event; the member reacts ✅ on the card.
        title = "Casus FML in de praktijk"
        asyncio.run(_admin_announces(data, title))
        pane.type("/kamer bijeenkomsten")
        pane.wait_for(title)
        pane.wait_for("opgeslagen in")  # the card's calendar file, in the room
        card = pane.number_of(title)
        pane.type(f"/react {card} ✅")
        pane.wait_for(f"✅ gegeven op #{card}.")
        pane.wait_for("✅ 1")
        # The confirmation and the .ics arrive in the DM: an unread marker, then the file.
        pane.wait_for("Privé met kennisbrug ●", raw=True)
        pane.type("/dm")
        pane.wait_for("Je bent aangemeld")
        shown = pane.wait_for(".ics — opgeslagen in")
        path = Path(re.search(r"\.ics — opgeslagen in (\S+\.ics)", shown).group(1))
        assert path.is_absolute() and path.parent == data / "downloads", path
        assert path.read_text(encoding="utf-8").startswith("BEGIN:VCALENDAR")
        assert title in path.read_text(encoding="utf-8")
        pane.shot("the sign-up and its calendar file in the direct chat")

        # The chat wrote the direct chat into m.direct when it accepted the invite. Taken
        # out again, the restart must find it from the room state (the bot's invite).
        direct = asyncio.run(_member_direct(data))
        [dm_id] = direct["@kennisbrug:localhost"]
        assert asyncio.run(_member_direct(data, replace={})) == {}

        pane.type("/quit")
        pane.wait_for("DEMO-EXITED-0", raw=True)
        pane.kill()

        # Restarted: /dm and a line typed straight after it land in the direct chat.
        pane.start()
        pane.wait_for("Klaar. Je schrijft in Welkom.", timeout=START_TIMEOUT)
        pane.type("/dm")
        pane.type("Dit antwoord is alleen voor de bot.")
        pane.wait_for("Je schrijft nu in Privé met kennisbrug.")
        pane.wait_for("Dit antwoord is alleen voor de bot.")
        pane.shot("after the restart, in the direct chat")
        pane.type("/kamer welkom")
        pane.wait_for("Je schrijft nu in Welkom.")
        assert "Dit antwoord is alleen voor de bot." not in pane.text()
        assert asyncio.run(_member_direct(data)) == {"@kennisbrug:localhost": [dm_id]}
        pane.type("/quit")
        pane.wait_for("DEMO-EXITED-0", raw=True)
    finally:
        pane.shot("last screen")
        pane.stop()
