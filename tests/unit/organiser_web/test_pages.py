"""The organisers' pages for evaluations, the stats report and the casus queue, through
aiohttp's test client against the real app and database: who may open which page
(organiser, moderator, member), the seams they read, escaping, the period form and the
queue's decisions, which reach the member by DM as from the chat."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import App
from bot.clock import FakeClock
from bot.ids import UserId
from commands.casus.feature import Casus
from commands.events.feature import Events
from commands.events.store import ANNOUNCED, NewEvent
from commands.organiser_web.feature import OrganiserWebFeature
from commands.organiser_web.page_sources import (
    casus_queue_source,
    evaluation_source,
    stats_report_source,
)
from commands.stats.feature import Stats
from tests.fakes import ALICE, BOB, FakeTransport, quick_app

pytestmark = pytest.mark.both_databases

CAROL = UserId("@carol:localhost")  # an organiser named in the events config, no moderator
ROLE_REFUSED = "alleen voor organisatoren"
MODERATORS_ONLY = "alleen voor moderatoren"


@pytest.fixture
async def app(tmp_path: Path, clock: FakeClock, db_url: str) -> AsyncIterator[App]:
    built = await quick_app(
        tmp_path,
        clock,
        db_url,
        {"welcome": "!welcome", "events": "!events", "theme:buikpijndossiers": "!buikpijn"},
        web={"listen": "127.0.0.1:8087", "public_url": "http://web.test"},
        events={"organisers": [str(CAROL)]},
    )
    for feature in built.features:
        if isinstance(feature, Stats):
            await feature.start()  # finds its sources in the registry
    yield built
    await built.stop()


@pytest.fixture
async def client(app: App) -> AsyncIterator[TestClient]:
    feature = next(f for f in app.features if isinstance(f, OrganiserWebFeature))
    async with TestClient(TestServer(feature.web.application())) as test_client:
        yield test_client


def events_of(app: App) -> Events:
    return next(f for f in app.features if isinstance(f, Events))


def casus_of(app: App) -> Casus:
    return next(f for f in app.features if isinstance(f, Casus))


async def log_in(app: App, client: TestClient, user: UserId) -> str:
    """A session for ``user`` (as the login link gives); returns its CSRF token."""
    feature = next(f for f in app.features if isinstance(f, OrganiserWebFeature))
    token, session = await feature.store.new_session(user)
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({"kennisbrug_session": token})
    return session.csrf


async def meeting(app: App, title: str, organiser: UserId, days_ago: int) -> int:
    starts = app.services.clock.now() - timedelta(days=days_ago)
    made = await events_of(app).store.create(
        [NewEvent(title, starts, starts + timedelta(hours=3), "fysiek", place="Utrecht")],
        organiser,
        status=ANNOUNCED,
    )
    return made[0].id


def test_the_owning_features_implement_the_seams(app: App) -> None:
    registry = app.services.registry
    assert isinstance(evaluation_source(registry), Events)
    assert isinstance(stats_report_source(registry), Stats)
    assert isinstance(casus_queue_source(registry), Casus)


async def test_each_page_asks_the_role_organiser_moderator_member(app: App, client: TestClient) -> None:
    event_id = await meeting(app, "Eigen bijeenkomst", CAROL, 2)
    pages = ["/evaluations", f"/evaluations/{event_id}", "/stats", "/stats/heat.png", "/casus"]
    await log_in(app, client, ALICE)  # an admin: a moderator
    for path in pages:
        assert (await client.get(path)).status == 200, path
    await log_in(app, client, CAROL)
    for path in pages[:2]:
        assert (await client.get(path)).status == 200, path
    for path in pages[2:]:
        answer = await client.get(path)
        text = await answer.text()
        assert answer.status == 403 and MODERATORS_ONLY in text and "Terug naar de bijeenkomsten" in text, (
            path
        )
    await log_in(app, client, BOB)
    for path in pages:
        answer = await client.get(path)
        assert answer.status == 403 and ROLE_REFUSED in await answer.text(), path
    # Posting a decision needs the role too, even with the form's own token.
    csrf = await log_in(app, client, CAROL)
    record = await casus_of(app).store.add_submission(BOB, "buikpijndossiers", "T", "Tekst", [], True, "nl")
    answer = await client.post(f"/casus/{record.id}/approve", data={"csrf": csrf}, allow_redirects=False)
    assert answer.status == 403
    assert [s.id for s in await casus_of(app).store.submissions("pending")] == [record.id]


async def test_the_nav_shows_moderator_pages_to_moderators_only(app: App, client: TestClient) -> None:
    await log_in(app, client, CAROL)
    page = await (await client.get("/evaluations")).text()
    assert 'href="/evaluations?lang=nl"' in page and 'href="/stats' not in page
    await log_in(app, client, ALICE)
    page = await (await client.get("/evaluations")).text()
    assert 'href="/stats?lang=nl"' in page and 'href="/casus?lang=nl"' in page


async def test_evaluations_grouped_by_profession_organisers_see_their_own(
    app: App, client: TestClient
) -> None:
    own = await meeting(app, "Casus <b>FML</b>", CAROL, 3)
    other = await meeting(app, "Andermans overleg", ALICE, 5)
    store = events_of(app).store
    await store.save_evaluation(
        own, "@a:localhost", "bedrijfsarts", "<script>x</script>", None, "Meer tijd", 4
    )
    await store.save_evaluation(own, "@b:localhost", "bedrijfsarts", "Casus", "Te kort", None, 3)
    await store.save_evaluation(own, "@c:localhost", "arbeidsdeskundige", "Perspectief", None, None, 5)
    await store.save_evaluation(own, "@d:localhost", None, None, None, "Koffie", None)
    await store.save_evaluation(other, "@a:localhost", "bedrijfsarts", "Ook goed", None, None, 2)

    await log_in(app, client, CAROL)
    listing = await (await client.get("/evaluations")).text()
    assert "Casus &lt;b&gt;FML&lt;/b&gt;" in listing and "4 evaluaties" in listing
    assert "Andermans overleg" not in listing
    refused = await client.get(f"/evaluations/{other}")
    assert refused.status == 403 and "voor de organisator en de moderatoren" in await refused.text()

    page = await (await client.get(f"/evaluations/{own}")).text()
    headings = re.findall(r"<h2>([^<]+) <span", page)
    assert headings == ["Bedrijfsarts", "Arbeidsdeskundige", "Zonder profiel"]
    assert "Gemiddeld 3,5 van de 5 (2 cijfers)" in page and "gemiddeld 4,0 van de 5" in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page
    assert "Te kort" in page and "Koffie" in page
    english = await (await client.get(f"/evaluations/{own}?lang=en")).text()
    assert "Average 3.5 out of 5 (2 ratings)" in english and "Occupational physician" in english

    await log_in(app, client, ALICE)
    listing = await (await client.get("/evaluations")).text()
    assert "Andermans overleg" in listing and "Casus &lt;b&gt;FML" in listing
    assert (await client.get(f"/evaluations/{own}")).status == 200
    assert (await client.get("/evaluations/9999")).status == 404


async def test_stats_for_a_chosen_period_and_a_friendly_error(app: App, client: TestClient) -> None:
    await log_in(app, client, ALICE)
    page = await (await client.get("/stats")).text()
    # The chat's default: the last 30 days, today (16 March 2027) included.
    assert 'name="from" value="2027-02-15"' in page and 'name="to" value="2027-03-16"' in page
    assert "15 februari 2027 t/m 16 maart 2027" in page
    assert 'src="/stats/participation.png?from=2027-02-15&amp;to=2027-03-16&amp;lang=nl"' in page

    stats = next(f for f in app.features if isinstance(f, Stats))
    at = datetime(2027, 1, 12, 12, 0, tzinfo=UTC)
    await stats.recorder.record("$root", "@r:localhost", "arbeidsdeskundige", "theme", None, at)
    for reply in range(4):
        await stats.recorder.record(f"$re{reply}", "@s:localhost", "bedrijfsarts", "theme", "$root", at)
    chosen = await client.get("/stats", params={"from": "2027-01-01", "to": "31-01-2027"})
    text = await chosen.text()
    assert chosen.status == 200 and "1 januari 2027 t/m 31 januari 2027" in text
    assert re.search(r"Bedrijfsarts → Arbeidsdeskundige</td><td class=\"num\">4<", text)
    assert "Tussen verschillende beroepen: 4 van alle 4 reacties." in text
    assert '<section class="card" id="totals">' in text and "Buddyverzoeken" in text
    png = await client.get("/stats/heat.png", params={"from": "2027-01-01", "to": "2027-01-31"})
    assert png.headers["Content-Type"] == "image/png" and (await png.read()).startswith(b"\x89PNG")

    bad = await client.get("/stats", params={"from": "<b>gisteren</b>"})
    text = await bad.text()
    assert bad.status == 400 and "„&lt;b&gt;gisteren&lt;/b&gt;” is geen datum die ik begrijp" in text
    backwards = await client.get("/stats", params={"from": "2027-03-01", "to": "2027-02-01"})
    assert backwards.status == 400 and "De begindatum ligt na de einddatum" in await backwards.text()
    too_long = await client.get("/stats", params={"from": "2025-01-01", "to": "2027-01-01"})
    assert too_long.status == 400 and "hoogstens 366 dagen" in await too_long.text()
    english = await client.get("/stats", params={"from": "2027-13-01", "lang": "en"})
    assert english.status == 400 and "is not a date I understand" in await english.text()
    assert (await client.get("/stats/heat.png", params={"from": "nope"})).status == 400


async def test_the_queue_approves_and_declines_and_the_member_hears_it(
    app: App, client: TestClient, transport: FakeTransport
) -> None:
    casus = casus_of(app)
    first = await casus.store.add_submission(
        BOB, "buikpijndossiers", "Vastgelopen <i>re-integratie</i>", "Regel 1\nRegel 2", ["Wie?"], False, "nl"
    )
    second = await casus.store.add_submission(BOB, "buikpijndossiers", "Tweede", "Tekst", [], True, "nl")
    csrf = await log_in(app, client, ALICE)
    page = await (await client.get("/casus")).text()
    assert "Vastgelopen &lt;i&gt;re-integratie&lt;/i&gt;" in page and "Buikpijndossiers" in page
    assert "met naam geplaatst" in page and "anoniem geplaatst" in page and str(BOB) in page

    refused = await client.post(f"/casus/{first.id}/approve", data={})
    assert refused.status == 403 and "niet van deze pagina" in await refused.text()
    approved = await client.post(f"/casus/{first.id}/approve", data={"csrf": csrf})
    assert approved.status == 200 and "is goedgekeurd en staat in de rotatie" in await approved.text()
    assert casus.state.bank("buikpijndossiers")[-1] == f"ingediend-{first.id}"
    await app.services.outbox.deliver_due()
    told = [m.plain for m in transport.sent if m.room_id == "!dm-bob"]
    assert "goedgekeurd" in told[-1] and "Vastgelopen" in told[-1]

    empty = await client.post(f"/casus/{second.id}/decline", data={"csrf": csrf, "reason": "  "})
    assert "Schrijf bij het afwijzen" in await empty.text()
    assert [s.id for s in await casus.store.submissions("pending")] == [second.id]
    declined = await client.post(
        f"/casus/{second.id}/decline", data={"csrf": csrf, "reason": "Lijkt op <casus> 3."}
    )
    assert "is afgewezen" in await declined.text() and "Er wachten geen casussen" in await declined.text()
    await app.services.outbox.deliver_due()
    told = [m.plain for m in transport.sent if m.room_id == "!dm-bob"]
    assert "Lijkt op <casus> 3." in told[-1]
    again = await client.post(f"/casus/{second.id}/approve", data={"csrf": csrf})
    assert "wacht niet meer" in await again.text()


async def test_the_chat_report_still_reads_the_same(app: App, transport: FakeTransport) -> None:
    """The report's tables moved to code the page shares: the chat shows them as before."""
    from tests.fakes import message

    await app.router.dispatch(message("!stats", sender=ALICE, room="!dm-alice", is_direct=True))
    report = next(m.plain for m in transport.sent if "in cijfers" in m.plain)
    assert "15 februari 2027 t/m 16 maart 2027" in report and "**Buddyverzoeken**\n- totaal: 0" in report


def test_dates_in_the_form(clock: FakeClock) -> None:
    from commands.organiser_web.pages.stats import BadDate, parse_day

    default = datetime(2027, 3, 1, tzinfo=UTC).date()
    assert parse_day("", default) == default
    assert parse_day("2027-02-03", default).isoformat() == "2027-02-03"
    assert parse_day("03-02-2027", default).isoformat() == "2027-02-03"
    with pytest.raises(BadDate):
        parse_day("30-02-2027", default)
