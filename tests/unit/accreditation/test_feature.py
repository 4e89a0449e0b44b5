"""Accreditation as members and organisers meet it, through the real router and a real
database file; only the chat network is a recording fake."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import timedelta

import pytest

from bot.app import App
from bot.clock import FakeClock
from bot.ids import UserId
from commands.accreditation.feature import Accreditation
from commands.events.feature import Events
from tests.fakes import ALICE, BOB, FakeTransport, message
from tests.privacy_scan import rows_mentioning

pytestmark = pytest.mark.both_databases

CAROL = UserId("@carol:localhost")
DAVE = UserId("@dave:localhost")
ONE_LINE = (
    '!event nieuw titel="Casus FML" datum=13-04-2027 tijd=09:30-13:00 plaats=Utrecht '
    'accreditatie="3 punten BIG en SRA"'
)


def dm(user: UserId) -> str:
    return f"!dm-{user.strip('@').split(':')[0]}"


async def say(app: App, text: str, *, sender: UserId = BOB, room: str | None = None) -> None:
    target = room or dm(sender)
    await app.router.dispatch(message(text, sender=sender, room=target, is_direct=target.startswith("!dm-")))


def accreditation(app: App) -> Accreditation:
    return next(f for f in app.features if isinstance(f, Accreditation))


async def announce(app: App) -> int:
    await say(app, ONE_LINE, sender=ALICE, room="!events")
    events = next(f for f in app.features if isinstance(f, Events))
    return (await events.store.upcoming(app.services.clock.now()))[-1].id


async def test_numbers_are_checked_kept_private_and_removed(app: App, transport: FakeTransport) -> None:
    await say(app, "!profiel zet registratie BIG=1234567890", room="!events")
    assert "11 cijfers" in transport.last()
    await say(app, '!profiel zet registratie BIG=123-456-789-01 naam="Bram de Boer"', room="!events")
    # The numbers go to the DM; the room only hears where they are.
    dm_texts = [m.plain for m in transport.sent if m.room_id == dm(BOB)]
    assert "BIG: BIG-12345678901" in dm_texts[-1] and "Bram de Boer" in dm_texts[-1]
    assert "12345678901" not in transport.last() and transport.sent[-1].room_id == "!events"
    await say(app, "!profiel zet registratie anders=VGCT:777 NIP=00123456")
    assert "VGCT: VGCT-777" in transport.last() and "NIP: NIP-00123456" in transport.last()
    await say(app, "!profiel zet registratie XYZ=1")
    assert "XYZ" in transport.last() and "anders=NAAM:nummer" in transport.last()
    await say(app, "!profiel wis registratie anders VGCT")
    assert "VGCT" not in transport.last() and "BIG-12345678901" in transport.last()
    await say(app, "!profiel registratie")
    assert "NIP-00123456" in transport.last()
    # Another member's profile never shows them.
    exported = await accreditation(app).store.export_member(BOB)
    assert {n["register"] for n in exported["registration_numbers"]} == {"BIG", "NIP"}


async def test_check_in_presence_lists_and_certificates(
    app: App, transport: FakeTransport, clock: FakeClock
) -> None:
    event_id = await announce(app)
    feature = accreditation(app)
    meeting = await feature.service.meeting(event_id)
    await say(app, '!profiel zet registratie BIG=12345678901 naam="Bram de Boer"')
    await say(app, "!profiel zet registratie SRA=4321", sender=CAROL)

    await say(app, f"!event checkin {event_id}", sender=BOB, room="!events")
    assert "organisatoren" in transport.last()
    clock.set(meeting.starts_at - timedelta(hours=1))
    await say(app, f"!event checkin {event_id}", sender=ALICE, room="!events")
    issued = next(m for m in reversed(transport.sent) if m.room_id == dm(ALICE))
    assert "Inchecken bij Casus FML" in issued.plain
    assert transport.uploads[-1].filename.endswith(".png") and transport.uploads[-1].room_id == dm(ALICE)
    code = (await feature.store.code_of(event_id)).code

    await say(app, f"!inchecken {code}")
    assert "vroeg" in transport.last()
    clock.set(meeting.starts_at + timedelta(minutes=3))
    await say(app, f"!inchecken {code}", room="!events")
    assert "privégesprek" in transport.last()
    await say(app, "!inchecken ZZZZZZ")
    assert "ken ik niet" in transport.last()
    await say(app, f"!inchecken {code[:3].lower()} {code[3:].lower()}")
    assert "Je bent ingecheckt om 09:33" in transport.last()
    clock.advance(timedelta(minutes=5))
    await say(app, f"!inchecken {code}")
    assert "al ingecheckt" in transport.last() and "09:33" in transport.last()
    await say(app, f"!inchecken {code}", sender=CAROL)
    # Dave forgot; the organiser marks him by hand, and takes a wrong mark back.
    await say(
        app, f"!event aanwezig {event_id} @dave:localhost @erin:localhost", sender=ALICE, room="!events"
    )
    await say(app, f"!event afwezig {event_id} @erin:localhost", sender=ALICE, room="!events")
    assert "1 eraf gehaald, 3 aanwezigen" in transport.last()
    clock.set(meeting.ends_at + timedelta(minutes=31))
    await say(app, f"!inchecken {code}", sender=DAVE)
    assert "werkt niet meer" in transport.last()

    await say(app, f"!event presentie {event_id}", sender=ALICE, room="!events")
    assert transport.last() == "Ik heb het je in ons privégesprek gestuurd."
    report = next(m for m in reversed(transport.sent) if m.room_id == dm(ALICE)).plain
    assert "**BIG** (1):\nBIG-12345678901" in report and "**SRA** (1):\nSRA-4321" in report
    assert "Zonder registratienummer (1)" in report and "dave" in report
    upload = transport.uploads[-1]
    assert upload.filename.endswith(".csv") and upload.room_id == dm(ALICE)
    rows = list(csv.reader(io.StringIO(upload.data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["naam", "beroep", "register", "nummer", "ingecheckt om", "duur"]
    assert ["Bram de Boer", "", "BIG", "BIG-12345678901", "2027-04-13 09:33", "3:30"] in rows
    assert any(r[0] == f"dave ({DAVE})" and r[2:5] == ["", "", ""] for r in rows)
    assert await feature.store.exported(event_id)

    await say(app, f"!event certificaten {event_id}", sender=ALICE, room="!events")
    archive = zipfile.ZipFile(io.BytesIO(transport.uploads[-1].data))
    assert len(archive.namelist()) == 3 and all(n.endswith(".pdf") for n in archive.namelist())
    assert any("Bram-de-Boer" in n for n in archive.namelist())

    # The day after at 09:00: every attendee gets their certificate in the DM.
    clock.set(meeting.ends_at + timedelta(days=1))
    await app.services.scheduler.run_due()
    await app.services.outbox.deliver_due()
    for user in (BOB, CAROL, DAVE):
        assert any(u.room_id == dm(user) and u.filename.endswith(".pdf") for u in transport.uploads)
        assert any(m.room_id == dm(user) and "bewijs van deelname" in m.plain for m in transport.sent)


async def test_organiser_is_reminded_until_presence_is_exported(
    app: App, transport: FakeTransport, clock: FakeClock
) -> None:
    # What the feature does at start: the daily planning job is set up.
    await accreditation(app).jobs.start()
    event_id = await announce(app)
    meeting = await accreditation(app).service.meeting(event_id)
    clock.set(meeting.starts_at)
    await say(app, f"!event aanwezig {event_id} @bob:localhost", sender=ALICE, room="!events")
    # The daily planning (a recurring job) finds the meeting, marked by hand only, and
    # plans its jobs; the first reminder then goes a week after the meeting.
    clock.set(meeting.ends_at + timedelta(days=7, minutes=1))
    await app.services.scheduler.catch_up()
    await app.services.scheduler.run_due()
    await app.services.outbox.deliver_due()
    to_alice = [m.plain for m in transport.sent if m.room_id == dm(ALICE)]
    assert any("nog niet geëxporteerd" in t for t in to_alice)
    await say(app, f"!event presentie {event_id}", sender=ALICE)
    clock.set(meeting.ends_at + timedelta(weeks=6, minutes=1))
    await app.services.scheduler.catch_up()
    await app.services.scheduler.run_due()
    await app.services.outbox.deliver_due()
    assert not any("Nog even" in m.plain for m in transport.sent if m.room_id == dm(ALICE))


async def test_erasing_a_member_removes_their_numbers(app: App, clock: FakeClock) -> None:
    event_id = await announce(app)
    feature = accreditation(app)
    meeting = await feature.service.meeting(event_id)
    await say(app, "!profiel zet registratie BIG=12345678901 naam=Bram")
    clock.set(meeting.starts_at)
    code = (await feature.service.issue_code(event_id, str(ALICE)))[1].code
    await say(app, f"!inchecken {code}")
    assert await feature.store.numbers([BOB])
    await app.services.privacy.erase_all(BOB)
    assert await feature.store.numbers([BOB]) == {}
    leftovers = [r for r in await rows_mentioning(app.services.db, BOB) if r[0].startswith("accreditation_")]
    assert leftovers == []
