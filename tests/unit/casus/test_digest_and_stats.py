"""Casus in the member's digest and in the organisers' counts, on a real database file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import App
from bot.clock import FakeClock
from commands.casus.rotation import Pick
from commands.casus.store import RunRecord
from commands.digest.sources import DigestRequest
from commands.stats.sources import StatCount
from tests.unit.casus.test_feature import ROOM, feature, make_app

pytestmark = pytest.mark.both_databases

BUIK = "buikpijndossiers"
KANKER = "kanker-en-werk"


@pytest.fixture
async def app(tmp_path: Path, clock: FakeClock, db_url: str) -> AsyncIterator[App]:
    built = await make_app(tmp_path, clock, db_url)
    yield built
    await built.stop()


async def post(app: App, theme: str, case_id: str, root: str) -> RunRecord:
    """A case posted in a theme room (claimed, then its root message sent)."""
    store = feature(app).store
    run, _ = await store.claim_run(theme, f"slot-{root}", ROOM, lambda _history: Pick(case_id, 1))
    assert run is not None
    posted = await store.mark_posted(run.id, root)
    assert posted is not None
    return posted


async def reply(app: App, run: RunRecord, event: str, user: str, profession: str) -> None:
    assert await feature(app).store.add_contribution(event, run.id, user, profession, 1)


def request(
    app: App, user: str, profession: str | None, themes: tuple[str, ...], language: str = "nl"
) -> DigestRequest:
    now = app.services.clock.now()
    return DigestRequest(user, language, profession, themes, now - timedelta(days=7), now)


async def test_the_digest_lists_open_cases_in_my_themes_where_my_profession_is_missing(app: App) -> None:
    casus = feature(app)
    first = await post(app, BUIK, "bp-arbeidsconflict", "$root1")
    second = await post(app, BUIK, "bp-langlopend-dossier", "$root2")
    closed = await post(app, BUIK, "bp-arbeidsconflict", "$root3")
    await casus.store.close_run(closed.id)
    await post(app, KANKER, "bp-arbeidsconflict", "$root4")  # another theme
    await reply(app, first, "$r1", "@ba:localhost", "bedrijfsarts")
    await reply(app, second, "$r2", "@jc:localhost", "jobcoach")

    sections = await casus.digest_sections(
        [
            request(app, "@ad:localhost", "arbeidsdeskundige", (BUIK,)),  # missing in both
            request(app, "@ba2:localhost", "bedrijfsarts", (BUIK,)),  # heard in the first
            request(app, "@jc2:localhost", "jobcoach", (BUIK,), "en"),  # heard in the second
            request(app, "@no:localhost", None, (BUIK,)),  # no profession: nothing to miss
            request(app, "@nt:localhost", "arbeidsdeskundige", ()),  # no themes
        ]
    )
    assert set(sections) == {"@ad:localhost", "@ba2:localhost", "@jc2:localhost"}
    both = sections["@ad:localhost"]
    assert [item.thread for item in both.items] == ["$root1", "$root2"]
    assert "arbeidsdeskundige" in both.title.plain
    assert "Ziek gemeld na een conflict" in both.items[0].line.plain
    assert f"https://matrix.to/#/{ROOM}/$root1" in both.items[0].line.plain
    assert [i.thread for i in sections["@ba2:localhost"].items] == ["$root2"]
    assert [i.thread for i in sections["@jc2:localhost"].items] == ["$root1"]
    assert "Cases in your themes" in sections["@jc2:localhost"].title.plain


async def test_the_digest_has_no_casus_section_without_open_cases(app: App) -> None:
    assert (
        await feature(app).digest_sections([request(app, "@ad:localhost", "arbeidsdeskundige", (BUIK,))])
        == {}
    )


async def test_stats_count_replies_per_profession_and_cases_that_heard_three(
    app: App, clock: FakeClock
) -> None:
    casus = feature(app)
    start = clock.now()
    wide = await post(app, BUIK, "bp-arbeidsconflict", "$w")
    for n, profession in enumerate(["bedrijfsarts", "jobcoach", "arbeidsdeskundige", "jobcoach"]):
        await reply(app, wide, f"$w{n}", f"@u{n}:localhost", profession)
    narrow = await post(app, BUIK, "bp-langlopend-dossier", "$n")
    await reply(app, narrow, "$n1", "@u9:localhost", "bedrijfsarts")
    await reply(app, narrow, "$n2", "@x:localhost", "unknown")  # no profile: no profession
    await reply(app, narrow, "$n3", "@y:localhost", "unknown")
    clock.advance(timedelta(days=40))
    later = await post(app, KANKER, "bp-arbeidsconflict", "$later")  # outside the period
    await reply(app, later, "$l1", "@u1:localhost", "jobcoach")

    counts = await casus.stats_counts(start, start + timedelta(days=30))
    assert sorted(counts, key=lambda c: (c.metric, c.profession or "")) == [
        StatCount("casus_cases", None, 2),
        StatCount("casus_cases_wide", None, 1),
        StatCount("casus_contributions", "arbeidsdeskundige", 1),
        StatCount("casus_contributions", "bedrijfsarts", 2),
        StatCount("casus_contributions", "jobcoach", 2),
    ]
