"""The organisers' web page in a real headless browser (the distribution's Chromium,
driven by Playwright) against the bot on a real Synapse: the organiser asks for a link by
DM with a real matrix-nio client, opens it, sees the meetings, marks someone present and
downloads the presence CSV; the used link is refused afterwards."""

from __future__ import annotations

import re
import socket
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


@needs_chromium
async def test_organiser_logs_in_marks_attendance_and_downloads_the_csv(
    bot_config: Config, member_factory: Any, tag: str, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    runner = BotRunner(bot_config)
    await runner.start()
    try:
        alice: Member = await member_factory("alice")
        room = await alice.join(bot_config.rooms["events"])
        title = f"Casus <i>FML</i> {tag}"
        announced = await alice.ask(
            room, f'!event nieuw titel="{title}" datum=13-04-2027 tijd=09:30-12:30 plaats=Utrecht', timeout=30
        )
        assert "Aangekondigd" in announced.body
        dm = await open_dm(alice, BOT)
        told = await alice.ask(dm, "!beheer", timeout=30)
        found = re.search(r"(http://127\.0\.0\.1:\d+/login/[A-Za-z0-9_-]+)", told.body)
        assert found, told.body
        link = found.group(1)

        shots: list[Path] = []
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                context = await browser.new_context(accept_downloads=True, viewport={"width": 390, "height": 844})
                page = await context.new_page()
                await page.goto(link)
                assert await page.locator("h1").inner_text() == "Bijeenkomsten"
                shots.append(tmp_path / "1-bijeenkomsten.png")
                await page.screenshot(path=shots[-1], full_page=True)
                # The title is shown as text: the tags are escaped, not rendered.
                await page.get_by_text(title).click()
                await page.fill("input[name=user_id]", alice.user_id)
                await page.click("form#mark button")
                await page.locator("#attendance").wait_for(timeout=10_000)
                assert alice.user_id in await page.locator("#attendance").inner_text()
                shots.append(tmp_path / "2-aanwezigheid.png")
                await page.screenshot(path=shots[-1], full_page=True)
                async with page.expect_download() as waiting:
                    await page.get_by_text("Presentielijst downloaden").click()
                download = await waiting.value
                saved = tmp_path / download.suggested_filename
                await download.save_as(saved)
                assert saved.suffix == ".csv" and alice.user_id in saved.read_text(encoding="utf-8")

                # The same link in a fresh browser (no cookie): used, so refused.
                other = await browser.new_context()
                refused = await other.new_page()
                answer = await refused.goto(link)
                assert answer is not None and answer.status == 403
                assert "al gebruikt of verlopen" in await refused.locator("#reason").inner_text()
                shots.append(tmp_path / "3-geweigerd.png")
                await refused.screenshot(path=shots[-1], full_page=True)
            finally:
                await browser.close()
        for shot in shots:
            print(f"screenshot: {shot}")
    finally:
        await runner.stop()
