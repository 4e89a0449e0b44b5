"""!stats and !stats export: a moderator gets the report in a DM, two valid PNGs and a
CSV; small counts are suppressed; a member is refused."""

from __future__ import annotations

import csv
import io
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.clock import FakeClock
from bot.ids import EventId, RoomId, UserId
from bot.transport import IncomingMessage
from commands.introductions.store import ProfileStore
from commands.stats.charts import HEIGHT_PX, WIDTH_PX, ChartTexts, heat_map, participation_chart
from commands.stats.report import Report, parse_period, shown, suppress, to_csv
from commands.stats.sources import StatCount
from tests.fakes import ALICE, BOB, FakeTransport, message, quick_app

pytestmark = pytest.mark.both_databases

THEME = "!buikpijn"
BAS = [UserId(f"@ba{i}:localhost") for i in range(4)]
ADS = [UserId(f"@ad{i}:localhost") for i in range(2)]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture
async def app(tmp_path: Path, clock: FakeClock, db_url: str) -> AsyncIterator[App]:
    built = await quick_app(tmp_path, clock, db_url, {"welcome": "!welcome", "theme:buikpijndossiers": THEME})
    profiles = ProfileStore(built.services.db, clock)
    for user in BAS:
        await profiles.save(user, {"profession": "bedrijfsarts", "listed": True})
    for user in ADS:
        await profiles.save(user, {"profession": "arbeidsdeskundige", "listed": True})
    await built.start_features()
    yield built
    await built.stop()


def transport(app: App) -> FakeTransport:
    assert isinstance(app.transport, FakeTransport)
    return app.transport


async def post(app: App, sender: UserId, event: str, reply_to: str | None = None) -> None:
    await app.router.dispatch(
        IncomingMessage(
            event_id=EventId(event),
            room_id=RoomId(THEME),
            sender=sender,
            body="Een reactie",
            timestamp=app.services.clock.now(),
            is_direct=False,
            reply_to=EventId(reply_to) if reply_to else None,
        )
    )


async def activity(app: App) -> None:
    """Four physicians answer a labour expert (4), one labour expert answers a physician (1)."""
    await post(app, ADS[0], "$root-ad")
    for index, ba in enumerate(BAS):
        await post(app, ba, f"$ba{index}", reply_to="$root-ad")
    await post(app, ADS[1], "$ad-reply", reply_to="$ba0")


async def command(app: App, text: str, sender: UserId = ALICE, room: str = "!dm-alice") -> None:
    await app.router.dispatch(message(text, sender=sender, room=room, is_direct=room.startswith("!dm-")))
    await app.services.outbox.deliver_due()


def test_suppression_and_period() -> None:
    assert [suppress(n) for n in (0, 1, 2, 3, 10)] == [0, None, None, 3, 10]
    assert [shown(n) for n in (0, 2, 3)] == ["0", "<3", "3"]
    assert parse_period(None) == 30
    assert parse_period("30d") == 30 and parse_period("4w") == 28 and parse_period("3m") == 90
    assert parse_period("7") == 7
    assert parse_period("0d") is None and parse_period("ever") is None and parse_period("999w") is None


def test_charts_are_valid_pngs_of_the_expected_size() -> None:
    texts = ChartTexts("titel", "x", "y", "noot")
    bars = participation_chart(
        ["01-03", "08-03"], [("Bedrijfsarts", [4, 1]), ("Arbeidsdeskundige", [0, 7])], texts
    )
    heat = heat_map(["Bedrijfsarts", "Arbeidsdeskundige"], [[0, 4], [1, 9]], texts)
    empty = heat_map([], [], texts)
    for data in (bars, heat, empty):
        assert png_size(data) == (WIDTH_PX, HEIGHT_PX)


def test_csv_has_every_count_and_suppresses_small_cells() -> None:
    from datetime import date

    report = Report(
        since=date(2027, 2, 15),
        until=date(2027, 3, 16),
        counts=[
            StatCount("members", "bedrijfsarts", 4),
            StatCount("members", "jobcoach", 1),
            StatCount("questions_answered", "bedrijfsarts", 2),
            StatCount("questions_median_hours", "bedrijfsarts", 5),
        ],
        matrix={("bedrijfsarts", "arbeidsdeskundige"): 4, ("arbeidsdeskundige", "bedrijfsarts"): 1},
        weekly={(date(2027, 3, 15), "bedrijfsarts"): 4},
    )
    text = to_csv(report).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    values = {(r["section"], r["metric"], r["profession"], r["to_profession"]): r["value"] for r in rows}
    assert values[("counts", "members", "bedrijfsarts", "")] == "4"
    assert values[("counts", "members", "jobcoach", "")] == "<3"
    assert values[("interactions", "replies", "bedrijfsarts", "arbeidsdeskundige")] == "4"
    assert values[("interactions", "replies", "arbeidsdeskundige", "bedrijfsarts")] == "<3"
    assert values[("participation", "replies_given", "bedrijfsarts", "")] == "4"
    # A median over fewer than three answers could point at one person: withheld.
    assert ("counts", "questions_median_hours", "bedrijfsarts", "") not in values
    assert all(r["period_start"] for r in rows)


async def test_a_moderator_gets_the_report_and_two_charts_in_a_dm(app: App) -> None:
    await activity(app)
    await command(app, "!statistieken periode=30d", room="!welcome")
    sent = transport(app)
    assert "privébericht" in sent.sent[0].plain and sent.sent[0].room_id == RoomId("!welcome")
    report = sent.sent[-1]
    assert report.room_id == RoomId("!dm-alice")
    assert "Kennisbrug in cijfers" in report.plain
    assert "Bedrijfsarts → Arbeidsdeskundige: 4" in report.plain
    assert "Arbeidsdeskundige → Bedrijfsarts: <3" in report.plain  # one reply: suppressed
    assert "- Arbeidsdeskundige: <3" in report.plain  # two members with a profile
    assert "- Bedrijfsarts: 4" in report.plain
    assert "Een reactie" not in report.plain
    pngs = [u for u in sent.uploads if u.content_type == "image/png"]
    assert len(pngs) == 2 and all(u.room_id == RoomId("!dm-alice") for u in pngs)
    for upload in pngs:
        assert png_size(upload.data) == (WIDTH_PX, HEIGHT_PX)


async def test_the_export_is_a_csv_in_a_dm(app: App) -> None:
    await activity(app)
    await command(app, "!stats export")
    [upload] = transport(app).uploads
    assert upload.content_type == "text/csv" and upload.filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(upload.data.decode("utf-8-sig"))))
    matrix = {
        (r["profession"], r["to_profession"]): r["value"] for r in rows if r["section"] == "interactions"
    }
    assert matrix == {("bedrijfsarts", "arbeidsdeskundige"): "4", ("arbeidsdeskundige", "bedrijfsarts"): "<3"}
    assert not any(str(u) in upload.data.decode() for u in (*BAS, *ADS))
    assert "CSV" in transport(app).last()


async def test_a_member_is_refused_and_a_bad_period_is_explained(app: App) -> None:
    await command(app, "!stats", sender=BOB, room="!dm-bob")
    assert transport(app).uploads == []
    assert "in cijfers" not in transport(app).last()
    # The refusal says whom to ask: the configured admin (Alice), by name.
    refused = transport(app).last()
    assert "alleen voor moderatoren" in refused and "Vraag het dan gerust aan" in refused
    assert "@alice:localhost" in refused
    await command(app, "!stats periode=ooit")
    assert "periode `ooit`" in transport(app).last()


async def test_cases_and_events_are_counted_in_the_report_and_the_csv(app: App, clock: FakeClock) -> None:
    """Casus and events report through the same seam: their counts get a label in both
    languages and small cells are suppressed like every other count."""
    from datetime import timedelta

    from commands.casus.feature import Casus
    from commands.casus.rotation import Pick
    from commands.events.feature import Events
    from commands.events.store import ANNOUNCED, NewEvent

    casus = next(f for f in app.features if isinstance(f, Casus))
    run, _ = await casus.store.claim_run(
        "buikpijndossiers", "s1", THEME, lambda _h: Pick("bp-arbeidsconflict", 1)
    )
    assert run is not None and await casus.store.mark_posted(run.id, "$case")
    for index, ba in enumerate(BAS):
        await casus.store.add_contribution(f"$c{index}", run.id, ba, "bedrijfsarts", 1)
    await casus.store.add_contribution("$c9", run.id, ADS[0], "arbeidsdeskundige", 1)
    events = next(f for f in app.features if isinstance(f, Events))
    starts = app.services.clock.now() + timedelta(days=3)
    [event] = await events.store.create(
        [NewEvent("Intervisie", starts, starts + timedelta(hours=1), "online")], str(ALICE), ANNOUNCED
    )
    for user in (*BAS[:3], ADS[0]):
        await events.store.answer(event.id, user, "going", "command")

    for language in ("nl", "en"):
        for metric in (
            "casus_contributions",
            "casus_cases",
            "casus_cases_wide",
            "events_signups",
            "events_attended",
        ):
            assert (
                app.services.catalogue.template(language, f"stats.metric.{metric}")
                != f"stats.metric.{metric}"
            )
    clock.advance(timedelta(minutes=5))  # the period ends now: what happened before
    await command(app, "!stats")
    report = transport(app).sent[-1].plain
    block = report[report.index("Casus: reacties per beroep") :]
    assert "- Bedrijfsarts: 4" in block and "- Arbeidsdeskundige: <3" in block
    assert "**Casussen geplaatst**\n- totaal: <3" in report
    signups = report[report.index("Bijeenkomsten: aanmeldingen") :]
    assert "- Bedrijfsarts: 3" in signups and "- Arbeidsdeskundige: <3" in signups

    await command(app, "!stats export")
    [upload] = transport(app).uploads[-1:]
    rows = list(csv.DictReader(io.StringIO(upload.data.decode("utf-8-sig"))))
    values = {(r["metric"], r["profession"]): r["value"] for r in rows if r["section"] == "counts"}
    assert values[("casus_contributions", "bedrijfsarts")] == "4"
    assert values[("casus_contributions", "arbeidsdeskundige")] == "<3"
    assert values[("casus_cases", "")] == "<3" and values[("casus_cases_wide", "")] == "0"
    assert values[("events_signups", "bedrijfsarts")] == "3"
