"""The organisers' pages for evaluations, stats and the casus queue in a real headless
browser (the distribution's Chromium, driven by Playwright) at phone width, against the
bot on a real Synapse: the moderator logs in through the link from the DM, reads a
meeting's evaluations by profession, shows the stats for a chosen period (and gets a
friendly error for a bad date), approves one brought-in case and declines another with
a reason; the member who brought them in hears both by DM from the bot."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from nio import RoomMessageNotice

from bot.config import Config, parse_config
from bot.devtools.synapse import LocalSynapse
from bot.i18n import format_date
from commands.casus.feature import Casus
from commands.events.feature import Events
from commands.events.store import ANNOUNCED, NewEvent
from commands.stats.feature import Stats
from tests.integration.conftest import SERVER, Accounts, BotRunner, Member, bot_config_dict, open_dm
from tests.integration.test_organiser_web import ARGS, CHROMIUM, free_port, needs_chromium

pytestmark = pytest.mark.integration
BOT = f"@kennisbrug:{SERVER}"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def bot_config(synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str) -> Config:
    raw = bot_config_dict(synapse, accounts, tmp_path, tag)
    raw["rooms"]["events"] = f"#bijeenkomsten-{tag}:{SERVER}"
    raw["matrix"]["encrypt_private_rooms"] = False
    raw["web"] = {"listen": f"127.0.0.1:{free_port()}"}
    return parse_config(raw, tmp_path / "bot.yaml", env={})


def feature_of(runner: BotRunner, kind: type[Any]) -> Any:
    assert runner.app is not None
    return next(f for f in runner.app.features if isinstance(f, kind))


async def seed_evaluations(runner: BotRunner, organiser: str, tag: str) -> str:
    """A meeting of last week with five members' evaluations (filled in through the chat
    elsewhere: tests/unit/events)."""
    events: Events = feature_of(runner, Events)
    starts = events.services.clock.now() - timedelta(days=7)
    title = f"Intervisie <b>{tag}</b>"
    made = await events.store.create(
        [NewEvent(title, starts, starts + timedelta(hours=2), "fysiek", place="Utrecht")],
        organiser,
        status=ANNOUNCED,
    )
    answers = [
        ("bedrijfsarts", "De casus uit de praktijk", "Te weinig tijd voor vragen", None, 4),
        ("bedrijfsarts", "Het gesprek met de arbeidsdeskundige", None, "Een pauze halverwege", 5),
        ("arbeidsdeskundige", "<script>alert(1)</script> werkte niet, gelukkig", None, None, 3),
        ("verzekeringsarts", "Heldere uitleg over de WIA", "De zaal was te warm", "Graag vaker", 4),
        (None, None, None, "Meer koffie", None),
    ]
    for number, (profession, worked, not_worked, tips, rating) in enumerate(answers):
        await events.store.save_evaluation(
            made[0].id, f"@lid{number}:{SERVER}", profession, worked, not_worked, tips, rating
        )
    return title


async def seed_interactions(runner: BotRunner, since: date, weeks: int) -> None:
    """Replies between professions over some weeks, as the stats listener records them
    from theme rooms (tested with real messages in tests/integration/test_stats.py)."""
    stats: Stats = feature_of(runner, Stats)
    pairs = [("bedrijfsarts", "arbeidsdeskundige"), ("arbeidsdeskundige", "bedrijfsarts")]
    pairs += [("verzekeringsarts", "bedrijfsarts")]
    for week in range(weeks):
        at = datetime.combine(since + timedelta(days=7 * week + 2), time(12), tzinfo=UTC)
        for number, (source, target) in enumerate(pairs):
            root = f"$root-{week}-{number}"
            await stats.recorder.record(root, f"@r{number}:{SERVER}", target, "theme", None, at)
            for reply in range(3 + (week + number) % 4):
                await stats.recorder.record(
                    f"{root}-{reply}", f"@s{number}:{SERVER}", source, "theme", root, at
                )


@needs_chromium
async def test_moderator_reads_evaluations_stats_and_decides_the_casus_queue(
    bot_config: Config, member_factory: Any, tag: str, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    runner = BotRunner(bot_config)
    await runner.start()
    try:
        alice: Member = await member_factory("alice")  # an admin: a moderator
        bob: Member = await member_factory("bob")
        bob_dm = await open_dm(bob, BOT)
        title = await seed_evaluations(runner, alice.user_id, tag)
        since, until = date.today() - timedelta(days=41), date.today() - timedelta(days=3)
        await seed_interactions(runner, since, 5)
        casus: Casus = feature_of(runner, Casus)
        approve = await casus.store.add_submission(
            bob.user_id,
            "buikpijndossiers",
            "Re-integratie die vastloopt",
            "Een werknemer met buikpijnklachten zit een jaar thuis.\nNiemand neemt de regie.",
            ["Wie neemt de regie?", "Wat kan de werkgever doen?"],
            False,
            "nl",
        )
        decline = await casus.store.add_submission(
            bob.user_id,
            "buikpijndossiers",
            "Een tweede <i>casus</i>",
            "Bijna dezelfde casus.",
            [],
            True,
            "nl",
        )

        alice_dm = await open_dm(alice, BOT)
        told = await alice.ask(alice_dm, "!beheer", timeout=30)
        found = re.search(r"(http://127\.0\.0\.1:\d+/login/[A-Za-z0-9_-]+)", told.body)
        assert found, told.body

        shots: list[Path] = []

        async def shot(page: Any, name: str) -> None:
            shots.append(tmp_path / f"{len(shots) + 1}-{name}.png")
            await page.screenshot(path=shots[-1], full_page=True)

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=[*ARGS, "--lang=nl-NL"]
            )
            try:
                context = await browser.new_context(viewport=PHONE, locale="nl-NL")
                page = await context.new_page()
                await page.goto(found.group(1))

                # Evaluations: the list, then the meeting grouped by profession.
                await page.click("nav >> text=Evaluaties")
                assert await page.locator("h1").inner_text() == "Evaluaties"
                await shot(page, "evaluaties")
                await page.get_by_text(title).click()  # shown as text: tags escaped
                groups = await page.locator("section.group h2").all_inner_texts()
                assert groups == [
                    "Bedrijfsarts (2)",
                    "Verzekeringsarts (1)",
                    "Arbeidsdeskundige (1)",
                    "Zonder profiel (1)",
                ]
                assert (
                    "Gemiddeld 4,5 van de 5 (2 cijfers)"
                    in await page.locator("section.group").first.inner_text()
                )
                assert "<script>alert(1)</script>" in await page.locator("main").inner_text()
                await shot(page, "evaluatie-per-beroep")

                # Stats: a chosen period, its two charts loaded; then a bad date.
                await page.click("nav >> text=Statistieken")
                await page.fill("input[name=from]", since.isoformat())
                await page.fill("input[name=to]", until.isoformat())
                await page.click("form#period button")
                await page.wait_for_load_state("load")
                shown = await page.locator("#shown-period").inner_text()
                assert (
                    shown
                    == f"{format_date(since, 'nl', 'd MMMM y')} t/m {format_date(until, 'nl', 'd MMMM y')}"
                )
                assert "Bedrijfsarts → Arbeidsdeskundige" in await page.locator("#interactions").inner_text()
                for kind in ("participation", "heat"):
                    width = await page.locator(f"#chart-{kind}").evaluate(
                        "img => img.complete ? img.naturalWidth : 0"
                    )
                    assert width == 1000, kind
                await shot(page, "statistieken")
                answer = await page.goto(page.url.replace(f"from={since.isoformat()}", "from=31-02-2026"))
                assert answer is not None and answer.status == 400
                assert "geen datum die ik begrijp" in await page.locator("#error").inner_text()
                await shot(page, "statistieken-foute-datum")

                # The casus queue: approve one, decline the other with a reason.
                await page.click("nav >> text=Casussen")
                assert await page.locator("section.case").count() == 2
                await shot(page, "casus-wachtrij")
                await page.click(f"#case-{approve.id} form.approve button")
                notice = await page.locator("#notice").inner_text()
                assert f"Casus {approve.id} is goedgekeurd" in notice
                await page.fill(
                    f"#case-{decline.id} textarea[name=reason]",
                    "Deze lijkt te veel op een casus die er al is.",
                )
                await page.click(f"#case-{decline.id} form.decline button")
                assert f"Casus {decline.id} is afgewezen" in await page.locator("#notice").inner_text()
                assert await page.locator("#empty").is_visible()
                await shot(page, "casus-besloten")
            finally:
                await browser.close()

        heard = await bob.wait_for(
            lambda room, event: room == bob_dm and isinstance(event, RoomMessageNotice), count=2, timeout=30
        )
        bodies = [e.body for e in heard]
        assert any("Re-integratie die vastloopt" in b and "goedgekeurd" in b for b in bodies), bodies
        assert any("te veel op een casus die er al is" in b for b in bodies), bodies
        assert casus.state.bank("buikpijndossiers")[-1] == f"ingediend-{approve.id}"
        for path in shots:
            print(f"screenshot: {path}")
    finally:
        await runner.stop()
