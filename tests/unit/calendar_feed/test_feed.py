"""The personal calendar feed through the real app, database and web app (aiohttp's test
client): what the feed holds, parsed back with icalendar; a replaced or revoked link
stops; erasing the member stops it too; the command is kind when there is no web page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from icalendar import Calendar

from bot.app import App
from bot.clock import FakeClock
from bot.ids import UserId
from commands.calendar_feed.feature import CalendarFeed
from commands.events.feature import Events
from tests.fakes import ALICE, BOB, FakeTransport, message, quick_app

pytestmark = pytest.mark.both_databases

CAROL = UserId("@carol:localhost")
FEED = re.compile(r"http://web\.test(/agenda/[A-Za-z0-9_-]+\.ics)")
NEW = '!event nieuw titel="{title}" datum={day}-04-2027 tijd=09:30-12:30 plaats=Utrecht{extra}'


async def say(app: App, text: str, user: UserId = BOB) -> None:
    room = f"!dm-{user.strip('@').split(':')[0]}"
    await app.router.dispatch(message(text, sender=user, room=room, is_direct=True))


async def ask_feed(app: App, transport: FakeTransport, text: str = "!agenda-link") -> str:
    await say(app, text)
    found = FEED.search(transport.last())
    assert found is not None, transport.last()
    return found.group(1)


async def announce(app: App, title: str, day: int, extra: str = "") -> int:
    await app.router.dispatch(
        message(NEW.format(title=title, day=day, extra=extra), sender=ALICE, room="!events")
    )
    events = next(f for f in app.features if isinstance(f, Events))
    found = [e for e in await events.store.upcoming(app.services.clock.now()) if e.title == title]
    assert found, f"{title} was not announced"
    return found[0].id


async def test_the_feed_holds_the_members_events_with_the_events_uids(
    app: App, transport: FakeTransport, client: TestClient
) -> None:
    going = await announce(app, "Casus <b>FML</b>", 13)
    full = await announce(app, "Volle zaal", 14, " plaatsen=1")
    called_off = await announce(app, "Gaat niet door", 15)
    other = await announce(app, "Niet aangemeld", 16)
    await say(app, f"!aanmelden {full}", CAROL)
    for event_id in (going, full, called_off):
        await say(app, f"!aanmelden {event_id}")
    await app.router.dispatch(message(f"!event annuleer {called_off}", sender=ALICE, room="!events"))

    path = await ask_feed(app, transport)
    assert "!agenda-link nieuw" in transport.last()
    # No cookie, no session: the token in the path is the key.
    answer = await client.get(path)
    assert answer.status == 200 and answer.content_type == "text/calendar"
    assert "no-store" in answer.headers["Cache-Control"]
    calendar = Calendar.from_ical(await answer.read())
    items = {str(e["summary"]): e for e in calendar.walk("VEVENT")}
    assert set(items) == {"Casus <b>FML</b>", "[wachtlijst] Volle zaal", "Gaat niet door"}
    events = next(f for f in app.features if isinstance(f, Events))
    for event_id, title in ((going, "Casus <b>FML</b>"), (called_off, "Gaat niet door")):
        record = await events.store.get(event_id)
        assert record is not None and str(items[title]["uid"]) == record.uid
    assert str(items["Casus <b>FML</b>"]["status"]) == "CONFIRMED"
    assert str(items["[wachtlijst] Volle zaal"]["status"]) == "TENTATIVE"
    assert str(items["Gaat niet door"]["status"]) == "CANCELLED"
    start = items["Casus <b>FML</b>"]["dtstart"]
    assert start.params["TZID"] == "Europe/Amsterdam" and start.dt.strftime("%H:%M") == "09:30"
    zones = [str(z["tzid"]) for z in calendar.walk("VTIMEZONE")]
    assert zones == ["Europe/Amsterdam"]
    assert other not in (going, full, called_off)


async def test_a_new_link_replaces_the_old_and_revoking_stops_it(
    app: App, transport: FakeTransport, client: TestClient
) -> None:
    first = await ask_feed(app, transport)
    assert (await client.get(first)).status == 200
    # Asked again: the link is not readable any more, so the member hears how to get a new one.
    await say(app, "!agenda-link")
    assert FEED.search(transport.last()) is None and "agenda-link nieuw" in transport.last()
    second = await ask_feed(app, transport, "!agenda-link nieuw")
    assert second != first
    assert (await client.get(first)).status == 404
    assert (await client.get(second)).status == 200
    await say(app, "!agenda-link intrekken")
    assert "ingetrokken" in transport.last()
    assert (await client.get(second)).status == 404
    await say(app, "!agenda-link intrekken")
    assert "geen agendalink" in transport.last()
    # The feed is the only page open without a session.
    assert (await client.get("/")).status == 403
    assert (await client.get("/agenda/not-a-real-token-at-all.ics")).status == 404


async def test_asked_in_a_room_the_link_goes_to_the_dm(app: App, transport: FakeTransport) -> None:
    await app.router.dispatch(message("!agenda-link", sender=BOB, room="!welcome"))
    in_dm = [m.plain for m in transport.sent if m.room_id == "!dm-bob"]
    in_room = [m.plain for m in transport.sent if m.room_id == "!welcome"]
    assert any(FEED.search(text) for text in in_dm)
    assert in_room and not any("/agenda/" in text for text in in_room)


async def test_the_link_is_in_the_export_and_erased_with_the_member(
    app: App, transport: FakeTransport, client: TestClient
) -> None:
    path = await ask_feed(app, transport)
    exported = await app.services.privacy.export_all(BOB)
    assert "feed_link_created_at" in exported["calendar_feed"]
    assert path.removeprefix("/agenda/").removesuffix(".ics") not in str(exported)
    removed = await app.services.privacy.erase_all(BOB)
    assert removed["calendar_feed"] == 1
    assert (await client.get(path)).status == 404
    assert (await app.services.privacy.export_all(BOB))["calendar_feed"] == {}


async def test_without_a_web_page_the_command_says_so(tmp_path: Path, clock: FakeClock, db_url: str) -> None:
    built = await quick_app(tmp_path, clock, db_url, {"welcome": "!welcome"})
    try:
        transport = built.services.transport
        await built.router.dispatch(message("!agenda-link", sender=BOB, room="!dm-bob", is_direct=True))
        assert "niet ingesteld" in transport.last()
        feature = next(f for f in built.features if isinstance(f, CalendarFeed))
        assert not await feature.store.has_link(BOB)
    finally:
        await built.stop()
