"""New members in the member's digest: of the professions they want to meet, or else of
other professions that share their themes. On a real database file, through the
feature's digest source."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.app import App
from bot.clock import FakeClock
from commands.digest.sources import DigestRequest
from commands.introductions.feature import Introductions

pytestmark = pytest.mark.both_databases

BUIK = "buikpijndossiers"
KANKER = "kanker-en-werk"


def feature(app: App) -> Introductions:
    return next(f for f in app.features if isinstance(f, Introductions))


async def profile(app: App, user: str, profession: str, **values: Any) -> None:
    values.setdefault("listed", True)
    await feature(app).store.save(user, {"profession": profession, **values})


def request(
    app: App,
    user: str,
    profession: str | None,
    themes: tuple[str, ...] = (),
    *,
    days: int = 7,
    language: str = "nl",
) -> DigestRequest:
    now = app.services.clock.now()
    return DigestRequest(user, language, profession, themes, now - timedelta(days=days), now)


def members_in(sections: Any, user: str) -> list[str]:
    return [item.line.plain for item in sections[user].items]


async def test_a_member_who_chose_professions_hears_of_new_members_of_exactly_those(
    app: App, clock: FakeClock
) -> None:
    await profile(app, "@ad:localhost", "arbeidsdeskundige", themes=[BUIK], meet_professions=["jobcoach"])
    await profile(
        app, "@ba:localhost", "bedrijfsarts", themes=[KANKER], meet_professions=["jobcoach", "bedrijfsarts"]
    )
    clock.advance(timedelta(days=1))
    await profile(app, "@jc:localhost", "jobcoach", themes=[KANKER])  # shares no theme with @ad
    await profile(app, "@ba2:localhost", "bedrijfsarts", themes=[BUIK])
    await profile(app, "@va:localhost", "verzekeringsarts", themes=[BUIK])
    await profile(app, "@jc-hidden:localhost", "jobcoach", listed=False)

    sections = await feature(app).digest_sections(
        [
            request(app, "@ad:localhost", "arbeidsdeskundige", (BUIK,)),
            request(app, "@ba:localhost", "bedrijfsarts", (KANKER,), language="en"),
        ]
    )
    ad = sections["@ad:localhost"]
    assert ad.title.plain == "Nieuwe leden uit de beroepen die je wilt ontmoeten"
    # Themes no longer narrow it, and the other professions sharing @ad's theme are left out.
    assert len(ad.items) == 1 and "@jc:localhost" in ad.items[0].line.plain
    assert "Jobcoach" in ad.items[0].line.plain
    ba = sections["@ba:localhost"]
    assert ba.title.plain == "New members from the professions you want to meet"
    # A chosen own profession counts too; the member themselves never does.
    lines = members_in(sections, "@ba:localhost")
    assert len(lines) == 2 and "Job coach" in lines[0] and "@ba2:localhost" in lines[1]
    assert not any("@ba:localhost" in line for line in lines)


async def test_without_a_choice_the_digest_keeps_other_professions_sharing_a_theme(
    app: App, clock: FakeClock
) -> None:
    await profile(app, "@ad:localhost", "arbeidsdeskundige", themes=[BUIK])
    clock.advance(timedelta(days=1))
    await profile(app, "@jc:localhost", "jobcoach", themes=[KANKER])
    await profile(app, "@ba:localhost", "bedrijfsarts", themes=[BUIK])
    await profile(app, "@ad2:localhost", "arbeidsdeskundige", themes=[BUIK])

    sections = await feature(app).digest_sections(
        [
            request(app, "@ad:localhost", "arbeidsdeskundige", (BUIK,)),
            request(app, "@new:localhost", "jobcoach"),  # no themes: every other profession
        ]
    )
    assert sections["@ad:localhost"].title.plain == "Nieuwe leden uit andere beroepen"
    assert len(sections["@ad:localhost"].items) == 1
    assert "@ba:localhost" in members_in(sections, "@ad:localhost")[0]
    new = " ".join(members_in(sections, "@new:localhost"))
    assert "@ba:localhost" in new and "@ad2:localhost" in new and "@ad:localhost" in new
    assert "@jc:localhost" not in new


async def test_each_member_hears_only_of_members_new_within_their_own_window(
    app: App, clock: FakeClock
) -> None:
    """A monthly reader's longer window does not stretch a weekly reader's."""
    await profile(app, "@old:localhost", "jobcoach")
    clock.advance(timedelta(days=20))
    await profile(app, "@recent:localhost", "jobcoach")
    clock.advance(timedelta(days=1))
    weekly = request(app, "@weekly:localhost", "bedrijfsarts")
    monthly = request(app, "@monthly:localhost", "bedrijfsarts", days=30)
    sections = await feature(app).digest_sections([weekly, monthly])
    assert len(sections["@weekly:localhost"].items) == 1
    assert "@recent:localhost" in members_in(sections, "@weekly:localhost")[0]
    assert len(sections["@monthly:localhost"].items) == 2


async def test_no_section_when_nobody_of_the_chosen_professions_is_new(app: App, clock: FakeClock) -> None:
    await profile(app, "@ad:localhost", "arbeidsdeskundige", meet_professions=["casemanager"])
    clock.advance(timedelta(days=1))
    await profile(app, "@jc:localhost", "jobcoach")
    sections = await feature(app).digest_sections([request(app, "@ad:localhost", "arbeidsdeskundige")])
    assert sections == {}
