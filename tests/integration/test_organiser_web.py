"""The organisers' web page in a real headless browser (the distribution's Chromium,
driven by Playwright) against the bot on a real Synapse: the organiser asks for a link by
DM with a real matrix-nio client, opens it, sees the meetings with their places and
waitlist, moves a member up (who hears it by DM), ticks and unticks attendance, and
downloads the presence list per register, the CSV and the certificates' ZIP; the used
link is refused afterwards. Screenshots at a phone's width (390 px) and a desk's."""

from __future__ import annotations

import io
import re
import socket
import zipfile
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, parse_config
from bot.devtools.synapse import LocalSynapse
from tests.integration.conftest import SERVER, Accounts, BotRunner, Member, bot_config_dict, open_dm

pytestmark = pytest.mark.integration
BOT = f"@kennisbrug:{SERVER}"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is missing: `make chromium` installs Debian's package"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def bot_config(synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str) -> Config:
    raw = bot_config_dict(synapse, accounts, tmp_path, tag)
    raw["rooms"]["events"] = f"#bijeenkomsten-{tag}:{SERVER}"
    raw["matrix"]["encrypt_private_rooms"] = False
    raw["web"] = {"listen": f"127.0.0.1:{free_port()}"}
    return parse_config(raw, tmp_path / "bot.yaml", env={})


async def dm_says(member: Member, room_id: str, text: str, timeout: float = 30) -> Any:
    """The bot's first message in the room containing ``text``."""
    found = await member.wait_for(
        lambda r, e: r == room_id and text in str(getattr(e, "body", "")), timeout=timeout
    )
    return found[0]


@needs_chromium
async def test_organiser_runs_an_event_from_the_page(
    bot_config: Config, member_factory: Any, tag: str, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    runner = BotRunner(bot_config)
    await runner.start()
    try:
        alice: Member = await member_factory("alice")
        bob: Member = await member_factory("bob")
        carol: Member = await member_factory("carol")
        room = await alice.join(bot_config.rooms["events"])
        title = f"Casus <i>FML</i> {tag}"
        announced = await alice.ask(
            room,
            f'!event nieuw titel="{title}" datum=13-04-2027 tijd=09:30-12:30 plaats=Utrecht '
            'capaciteit=1 accreditatie="3 punten BIG"',
            timeout=30,
        )
        assert "Aangekondigd" in announced.body
        found_id = re.search(r"bijeenkomst (\d+)\.", announced.body)
        assert found_id, announced.body
        event_id = found_id.group(1)
        # Bob takes the one place and gives his BIG number; Carol goes on the waitlist.
        bob_dm, carol_dm = await open_dm(bob, BOT), await open_dm(carol, BOT)
        assert "aangemeld" in (await bob.ask(bob_dm, f"!aanmelden {event_id}", timeout=30)).body
        numbered = await bob.ask(
            bob_dm, '!profiel zet registratie BIG=12345678901 naam="Bram <b>de</b> Boer"', timeout=30
        )
        assert "BIG-12345678901" in numbered.body
        assert "wachtlijst" in (await carol.ask(carol_dm, f"!aanmelden {event_id}", timeout=30)).body
        dm = await open_dm(alice, BOT)
        told = await alice.ask(dm, "!beheer", timeout=30)
        found = re.search(r"(http://127\.0\.0\.1:\d+/login/[A-Za-z0-9_-]+)", told.body)
        assert found, told.body
        link = found.group(1)

        shots: list[Path] = []
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                context = await browser.new_context(
                    accept_downloads=True, viewport={"width": 390, "height": 844}
                )
                page = await context.new_page()

                async def shot(name: str) -> None:
                    shots.append(tmp_path / name)
                    await page.screenshot(path=shots[-1], full_page=True)

                async def download(text: str) -> Path:
                    async with page.expect_download() as waiting:
                        await page.get_by_text(text).click()
                    got = await waiting.value
                    saved = tmp_path / got.suggested_filename
                    await got.save_as(saved)
                    return saved

                await page.goto(link)
                assert await page.locator("h1").inner_text() == "Bijeenkomsten"
                item = page.locator(f"li[data-event='{event_id}']")
                assert "1 van 1 plaatsen bezet" in await item.inner_text()
                assert "1 op de wachtlijst" in await item.inner_text()
                await shot("1-bijeenkomsten.png")
                # The title is shown as text: the tags are escaped, not rendered.
                await page.get_by_text(title).click()
                assert await page.locator("h1").inner_text() == title
                waitlist = page.locator("ol.waitlist li")
                assert await waitlist.count() == 1 and carol.user_id in await waitlist.inner_text()
                assert "Bram <b>de</b> Boer" in await page.locator("#attendance").inner_text()
                await shot("2-bijeenkomst.png")

                # Carol moves up from the waitlist, and hears it as when a place frees up.
                await page.locator(f"ol.waitlist li[data-user='{carol.user_id}'] button").click()
                await page.locator("#note").wait_for(timeout=10_000)
                assert "krijgt bericht" in await page.locator("#note").inner_text()
                assert "2 van 1 plaatsen bezet" in await page.locator("#places").inner_text()
                assert await page.locator("ol.waitlist li").count() == 0
                heard = await dm_says(carol, carol_dm, "Goed nieuws")
                assert title in heard.body

                # Tick Bob and Carol, untick Carol again; mark Alice by name.
                for member in (bob, carol):
                    await page.locator(f"tr[data-user='{member.user_id}'] button").click()
                    await page.locator(f"tr[data-user='{member.user_id}'].present").wait_for(timeout=10_000)
                await page.locator(f"tr[data-user='{carol.user_id}'] button").click()
                await page.locator(f"tr[data-user='{carol.user_id}'].absent").wait_for(timeout=10_000)
                assert "Aanwezigheid weggehaald" in await page.locator("#note").inner_text()
                await page.fill("form#mark input[name=user_id]", alice.user_id)
                await page.click("form#mark button")
                await page.locator(f"tr[data-user='{alice.user_id}'].present").wait_for(timeout=10_000)
                assert "zonder plaats" in await page.locator(f"tr[data-user='{alice.user_id}']").inner_text()
                assert "BIG-12345678901" in await page.locator("section.register textarea").input_value()
                await shot("3-aanwezigheid.png")

                numbers = await download("Nummers BIG downloaden")
                assert numbers.suffix == ".txt" and numbers.read_bytes() == b"BIG-12345678901\r\n"
                table = (await download("Presentielijst downloaden")).read_text(encoding="utf-8-sig")
                assert "Bram <b>de</b> Boer;" in table and "BIG-12345678901" in table
                assert alice.user_id in table and carol.user_id not in table
                archive_path = await download("Alle deelnamebewijzen downloaden")
                with zipfile.ZipFile(io.BytesIO(archive_path.read_bytes())) as archive:
                    names = archive.namelist()
                    assert len(names) == 2 and all(archive.read(n).startswith(b"%PDF") for n in names)
                    assert any("Bram-b-de-b-Boer" in n for n in names), names

                # The same page on a desk.
                await page.set_viewport_size({"width": 1200, "height": 900})
                await shot("4-bijeenkomst-breed.png")

                # The same link in a fresh browser (no cookie): used, so refused.
                other = await browser.new_context()
                refused = await other.new_page()
                answer = await refused.goto(link)
                assert answer is not None and answer.status == 403
                assert "al gebruikt of verlopen" in await refused.locator("#reason").inner_text()
                shots.append(tmp_path / "5-geweigerd.png")
                await refused.screenshot(path=shots[-1], full_page=True)
            finally:
                await browser.close()
        for saved_shot in shots:
            print(f"screenshot: {saved_shot}")
    finally:
        await runner.stop()
