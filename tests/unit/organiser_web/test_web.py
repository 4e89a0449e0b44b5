"""The organisers' web page through aiohttp's test client against a real app and
database file: the login link (once, for ten minutes, for organisers only), the session
guard, CSRF on forms, escaping, the attendance mark and the presence CSV."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bot.app import App
from bot.clock import FakeClock
from bot.ids import UserId
from commands.events.feature import Events
from commands.organiser_web.feature import OrganiserWebFeature
from tests.fakes import ALICE, BOB, FakeTransport, message, quick_app

pytestmark = pytest.mark.both_databases

LINK = re.compile(r"http://web\.test(/login/[A-Za-z0-9_-]+)")
ONE_LINE = '!event nieuw titel="Casus <b>FML</b>" datum=13-04-2027 tijd=09:30-13:00 plaats=Utrecht'


async def ask_link(app: App, transport: FakeTransport, user: UserId = ALICE) -> str:
    room = f"!dm-{user.strip('@').split(':')[0]}"
    await app.router.dispatch(message("!beheer", sender=user, room=room, is_direct=True))
    found = LINK.search(transport.last())
    assert found is not None, transport.last()
    return found.group(1)


async def test_link_works_once_and_the_session_opens_the_page(
    app: App, transport: FakeTransport, client: TestClient
) -> None:
    path = await ask_link(app, transport)
    answer = await client.get(path, allow_redirects=False)
    assert answer.status == 303
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=" in cookie
    page = await client.get("/")
    assert page.status == 200 and "Bijeenkomsten" in await page.text()
    # The same link again, from a browser without the cookie: refused.
    client.session.cookie_jar.clear()
    again = await client.get(path, allow_redirects=False)
    assert again.status == 403 and "al gebruikt of verlopen" in await again.text()
    assert (await client.get("/")).status == 403


async def test_link_expires_after_ten_minutes(
    app: App, transport: FakeTransport, client: TestClient, clock: FakeClock
) -> None:
    path = await ask_link(app, transport)
    clock.advance(timedelta(minutes=10, seconds=1))
    answer = await client.get(path, allow_redirects=False)
    assert answer.status == 403


async def test_members_get_no_link_and_lose_the_page_with_their_role(
    app: App, transport: FakeTransport, client: TestClient
) -> None:
    await app.router.dispatch(message("!beheer", sender=BOB, room="!dm-bob", is_direct=True))
    assert LINK.search(transport.last()) is None
    # A link made for someone without the role (or who lost it) opens nothing.
    feature = next(f for f in app.features if isinstance(f, OrganiserWebFeature))
    token = await feature.store.new_link(BOB)
    assert (await client.get(f"/login/{token}", allow_redirects=False)).status == 403
    # A session whose member loses the role is refused on the next request.
    token, _ = await feature.store.new_session(BOB)
    client.session.cookie_jar.update_cookies({"kennisbrug_session": token})
    answer = await client.get("/")
    assert answer.status == 403 and "alleen voor organisatoren" in await answer.text()


async def test_attendance_needs_the_csrf_token_and_text_is_escaped(
    app: App, transport: FakeTransport, client: TestClient
) -> None:
    await app.router.dispatch(message(ONE_LINE, sender=ALICE, room="!events"))
    events = next(f for f in app.features if isinstance(f, Events))
    event_id = (await events.store.upcoming(app.services.clock.now()))[-1].id
    await client.get(await ask_link(app, transport))
    page = await (await client.get(f"/events/{event_id}")).text()
    assert "Casus &lt;b&gt;FML&lt;/b&gt;" in page and "<b>FML" not in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    refused = await client.post(f"/events/{event_id}/attended", data={"user_id": str(BOB)})
    assert refused.status == 403 and "niet van deze pagina" in await refused.text()
    assert await events_attendance(app, event_id) == []
    done = await client.post(
        f"/events/{event_id}/attended", data={"user_id": str(BOB), "csrf": csrf.group(1)}
    )
    assert done.status == 200 and await events_attendance(app, event_id) == [BOB]
    csv_answer = await client.get(f"/events/{event_id}/presence.csv")
    assert csv_answer.status == 200 and "attachment" in csv_answer.headers["Content-Disposition"]
    assert "bob" in await csv_answer.text()
    english = await (await client.get("/?lang=en")).text()
    assert "Upcoming meetings" in english


async def events_attendance(app: App, event_id: int) -> list[str]:
    from commands.accreditation.sources import attendance_source

    source = attendance_source(app.services.registry)
    assert source is not None
    return [a.user_id for a in await source.attendance(event_id)]


async def test_the_server_starts_and_stops_with_the_feature(
    tmp_path: Path, clock: FakeClock, db_url: str
) -> None:
    import socket

    import aiohttp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    built = await quick_app(tmp_path, clock, db_url, {}, web={"listen": f"127.0.0.1:{port}"})
    feature = next(f for f in built.features if isinstance(f, OrganiserWebFeature))
    await feature.start()
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/") as answer:
            assert answer.status == 403 and "Geen toegang" in await answer.text()
    finally:
        await feature.stop()
        await built.stop()
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # the port is free again: the server is gone


async def test_without_a_web_section_nothing_listens(tmp_path: Path, clock: FakeClock, db_url: str) -> None:
    built = await quick_app(tmp_path, clock, db_url, {})
    feature = next(f for f in built.features if isinstance(f, OrganiserWebFeature))
    await feature.start()
    assert feature._runner is None
    await built.stop()
