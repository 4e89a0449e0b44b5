"""The events pages of the organisers' web page, and the seams behind them, against a
real app and database: places and the waitlist counted per event, an organiser moving a
member up (who hears it by DM, as when a place frees up), attendance ticked and
unticked, the presence per register and the certificates' ZIP."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient

from bot.app import App
from bot.clock import FakeClock
from bot.ids import UserId
from commands.accreditation.feature import Accreditation
from commands.accreditation.sources import AttendanceSource, attendance_source
from commands.events.feature import Events
from commands.organiser_web.feature import OrganiserWebFeature
from commands.organiser_web.sources import SignUpSource, sign_up_source
from tests.fakes import ALICE, BOB, FakeTransport, message

pytestmark = pytest.mark.both_databases

CAROL = UserId("@carol:localhost")
DAVE = UserId("@dave:localhost")
FULL = (
    '!event nieuw titel="Casus <b>FML</b>" datum=13-04-2027 tijd=09:30-13:00 plaats=Utrecht '
    'accreditatie="3 punten BIG en SRA" capaciteit=2'
)
OPEN = '!event nieuw titel="Netwerkochtend" datum=20-04-2027 tijd=09:30-13:00 plaats=Zwolle'


def dm(user: UserId) -> str:
    return f"!dm-{user.strip('@').split(':')[0]}"


async def say(app: App, text: str, *, sender: UserId = BOB, room: str | None = None) -> None:
    target = room or dm(sender)
    await app.router.dispatch(message(text, sender=sender, room=target, is_direct=target.startswith("!dm-")))


async def announce(app: App, line: str) -> int:
    await say(app, line, sender=ALICE, room="!events")
    events = next(f for f in app.features if isinstance(f, Events))
    return max(e.id for e in await events.store.upcoming(app.services.clock.now()))


def seams(app: App) -> tuple[SignUpSource, AttendanceSource]:
    sign_ups, attendance = sign_up_source(app.services.registry), attendance_source(app.services.registry)
    assert sign_ups is not None and attendance is not None
    return sign_ups, attendance


async def full_event(app: App) -> int:
    """Two places: Bob and Carol have them, Dave waits."""
    event_id = await announce(app, FULL)
    for user in (BOB, CAROL, DAVE):
        await say(app, f"!aanmelden {event_id}", sender=user, room="!events")
    return event_id


async def dm_texts(app: App, transport: FakeTransport, user: UserId) -> list[str]:
    await app.services.outbox.deliver_due()
    return [m.plain for m in transport.sent if m.room_id == dm(user)]


async def log_in(app: App, client: TestClient) -> str:
    """A session for Alice (an admin); returns the page's CSRF token."""
    feature = next(f for f in app.features if isinstance(f, OrganiserWebFeature))
    token, session = await feature.store.new_session(ALICE)
    client.session.cookie_jar.update_cookies({"kennisbrug_session": token})
    return session.csrf


async def test_the_seam_counts_places_waitlist_and_attendance_per_event(app: App) -> None:
    full = await full_event(app)
    other = await announce(app, OPEN)
    await say(app, f"!aanmelden {other}", sender=CAROL, room="!events")
    await say(
        app,
        '!event nieuw titel="Nog een concept" datum=21-04-2027 tijd=10:00-11:00',
        sender=ALICE,
        room="!events",
    )
    sign_ups, attendance = seams(app)
    await attendance.mark_attended(full, BOB)
    now = app.services.clock.now()
    found = await sign_ups.event_summaries(now, now + timedelta(days=365))
    counts = {e.id: (e.capacity, e.going, e.waiting, e.attended) for e in found}
    # Only announced events: the draft waiting for the organiser's "ja" is not listed.
    assert counts == {full: (2, 2, 1, 1), other: (None, 1, 0, 0)}
    assert [e.id for e in found] == [full, other]  # soonest first
    signed = await sign_ups.event_sign_ups(full)
    assert signed is not None and signed.event.title == "Casus <b>FML</b>"
    assert [s.user_id for s in signed.going] == [BOB, CAROL]
    assert [s.user_id for s in signed.waiting] == [DAVE]
    assert await sign_ups.event_sign_ups(99_999) is None


async def test_moving_up_gives_a_place_beyond_the_maximum_and_tells_the_member(
    app: App, transport: FakeTransport
) -> None:
    event_id = await full_event(app)
    sign_ups, _ = seams(app)
    assert not any("Goed nieuws" in t for t in await dm_texts(app, transport, DAVE))
    assert await sign_ups.move_up(event_id, DAVE) is True
    told = await dm_texts(app, transport, DAVE)
    assert any("Goed nieuws" in t and "Casus <b>FML</b>" in t for t in told)
    assert [u.filename for u in transport.uploads if u.room_id == dm(DAVE)][
        -1
    ] == f"bijeenkomst-{event_id}.ics"
    signed = await sign_ups.event_sign_ups(event_id)
    assert (
        signed is not None and [s.user_id for s in signed.going] == [BOB, CAROL, DAVE] and not signed.waiting
    )
    # Someone with a place, or without an answer, is not moved (and hears nothing).
    assert await sign_ups.move_up(event_id, BOB) is False
    assert await sign_ups.move_up(event_id, UserId("@erin:localhost")) is False
    # The extra place was the organiser's: when Bob withdraws, nobody else moves up.
    await say(app, f"!afmelden {event_id}", sender=BOB, room="!events")
    signed = await sign_ups.event_sign_ups(event_id)
    assert signed is not None and signed.event.going == 2


async def test_attendance_is_unmarked_through_the_seam(app: App) -> None:
    event_id = await full_event(app)
    _, attendance = seams(app)
    assert await attendance.mark_attended(event_id, BOB) is True
    assert await attendance.unmark_attended(event_id, BOB) is True
    assert await attendance.attendance(event_id) == []
    assert await attendance.unmark_attended(event_id, BOB) is False


async def test_the_list_shows_places_and_waitlist(app: App, client: TestClient) -> None:
    full = await full_event(app)
    await log_in(app, client)
    page = await (await client.get("/")).text()
    item = re.search(rf'<li data-event="{full}">(.*?)</li>', page, re.S)
    assert item is not None
    assert "Casus &lt;b&gt;FML&lt;/b&gt;" in item.group(1) and "<b>FML" not in page
    assert "2 van 2 plaatsen bezet" in item.group(1) and "1 op de wachtlijst" in item.group(1)
    assert 'href="/?lang=nl" aria-current="page">Bijeenkomsten</a>' in page  # the navigation, here
    english = await (await client.get("/?lang=en")).text()
    assert "2 of 2 places taken" in english


async def test_an_organiser_moves_up_ticks_and_unticks_on_the_event_page(
    app: App, transport: FakeTransport, client: TestClient
) -> None:
    event_id = await full_event(app)
    csrf = await log_in(app, client)
    page = await (await client.get(f"/events/{event_id}")).text()
    waitlist = page[page.index('id="waitlist"') :]
    assert DAVE in waitlist and "Plaats geven" in waitlist
    assert 'aria-pressed="false"' in page and 'aria-pressed="true"' not in page

    refused = await client.post(f"/events/{event_id}/move-up", data={"user_id": DAVE})
    assert refused.status == 403
    moved = await client.post(
        f"/events/{event_id}/move-up", data={"user_id": DAVE, "csrf": csrf}, allow_redirects=False
    )
    assert moved.status == 303 and "note=moved" in moved.headers["Location"]
    assert any("Goed nieuws" in t for t in await dm_texts(app, transport, DAVE))
    page = await (await client.get(moved.headers["Location"])).text()
    assert "krijgt bericht" in page and "Er staat niemand op de wachtlijst" in page
    assert "3 van 2 plaatsen bezet" in page

    await client.post(f"/events/{event_id}/attended", data={"user_id": BOB, "csrf": csrf})
    _, attendance = seams(app)
    assert [a.user_id for a in await attendance.attendance(event_id)] == [BOB]
    page = await (await client.get(f"/events/{event_id}")).text()
    row = re.search(rf'<tr data-user="{re.escape(BOB)}" class="(\w+)">(.*?)</tr>', page, re.S)
    assert row is not None and row.group(1) == "present" and f"/events/{event_id}/absent" in row.group(2)
    undone = await client.post(
        f"/events/{event_id}/absent", data={"user_id": BOB, "csrf": csrf}, allow_redirects=False
    )
    assert undone.status == 303 and "note=unmarked" in undone.headers["Location"]
    assert await attendance.attendance(event_id) == []
    page = await (await client.get(undone.headers["Location"])).text()
    assert "Aanwezigheid weggehaald" in page and 'class="absent"' in page and 'class="present"' not in page
    bad = await client.post(
        f"/events/{event_id}/attended", data={"user_id": "<script>", "csrf": csrf}, allow_redirects=False
    )
    assert "note=bad_user" in bad.headers["Location"]


async def test_presence_per_register_and_the_certificates_zip(app: App, client: TestClient) -> None:
    event_id = await full_event(app)
    await say(app, '!profiel zet registratie BIG=12345678901 naam="Bram <i>de</i> Boer"')
    await say(app, "!profiel zet registratie SRA=4321", sender=CAROL)
    csrf = await log_in(app, client)
    no_zip = await client.get(f"/events/{event_id}/certificates.zip", allow_redirects=False)
    assert no_zip.status == 303 and "note=no_certificates" in no_zip.headers["Location"]
    for user in (BOB, CAROL, DAVE):
        await client.post(f"/events/{event_id}/attended", data={"user_id": user, "csrf": csrf})
    page = await (await client.get(f"/events/{event_id}")).text()
    assert "Bram &lt;i&gt;de&lt;/i&gt; Boer" in page and "<i>de" not in page
    assert "BIG-12345678901" in page and "dave" in page[page.index('id="presence"') :]

    big = await client.get(f"/events/{event_id}/presence.txt", params={"register": "BIG"})
    assert big.status == 200 and "attachment" in big.headers["Content-Disposition"]
    assert await big.text() == "BIG-12345678901\r\n"
    sra = await client.get(f"/events/{event_id}/presence.txt", params={"register": "SRA"})
    assert (await sra.text()).strip().startswith("SRA")
    assert (await client.get(f"/events/{event_id}/presence.txt", params={"register": "NIP"})).status == 404
    csv_text = (await (await client.get(f"/events/{event_id}/presence.csv")).read()).decode("utf-8-sig")
    assert csv_text.startswith("naam;") and "BIG-12345678901" in csv_text and "dave" in csv_text

    answer = await client.get(f"/events/{event_id}/certificates.zip")
    assert answer.status == 200 and answer.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(await answer.read())) as archive:
        names = archive.namelist()
        assert len(names) == 3 and all(n.endswith(".pdf") for n in names)
        assert all(archive.read(n).startswith(b"%PDF") for n in names)


async def test_the_grid_shows_check_in_times_also_after_an_untick(
    app: App, client: TestClient, clock: FakeClock
) -> None:
    event_id = await full_event(app)
    service = next(f for f in app.features if isinstance(f, Accreditation)).service
    meeting = await service.meeting(event_id)
    clock.set(meeting.starts_at - timedelta(minutes=20))
    _, code = await service.issue_code(event_id, ALICE)
    clock.set(meeting.starts_at + timedelta(minutes=3))
    await service.check_in(CAROL, code.code)
    csrf = await log_in(app, client)

    def row(page: str, user: UserId) -> str:
        found = re.search(rf'<tr data-user="{re.escape(user)}" class="\w+">(.*?)</tr>', page, re.S)
        assert found is not None
        return found.group(0)

    page = await (await client.get(f"/events/{event_id}")).text()
    assert 'class="present"' in row(page, CAROL) and "<td>09:33</td>" in row(page, CAROL)
    assert 'class="absent"' in row(page, BOB) and "<td>–</td>" in row(page, BOB)
    await client.post(f"/events/{event_id}/absent", data={"user_id": CAROL, "csrf": csrf})
    page = await (await client.get(f"/events/{event_id}")).text()
    # Unticked, but the check-in by code stays visible to the organiser.
    assert 'class="absent"' in row(page, CAROL) and "<td>09:33</td>" in row(page, CAROL)
