"""Events as organisers and members meet them, through the real router and a real
database file; only the chat network is a recording fake."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import select

from bot.app import App
from bot.clock import FakeClock
from bot.ids import EventId, RoomId, UserId
from bot.storage.models import ScheduledJob
from bot.transport import IncomingReaction
from commands.events.feature import Events
from commands.events.jobs import REMINDER_LEAD
from commands.events.store import GOING, WAITING
from tests.fakes import ALICE, BOB, FakeTransport, message
from tests.privacy_scan import rows_mentioning

pytestmark = pytest.mark.both_databases

CAROL = UserId("@carol:localhost")
DAVE = UserId("@dave:localhost")
ONE_LINE = (
    '!event nieuw titel="Casus FML" datum=13-04-2027 tijd=09:30-13:00 plaats="Utrecht, Catharijnesingel 1" '
    'accreditatie="3 PE-punten NVvA" lunch=ja capaciteit=2 doelgroep=BA,AD programma="Casus en netwerken"'
)


def feature(app: App) -> Events:
    return next(f for f in app.features if isinstance(f, Events))


def dm(user: UserId) -> str:
    return f"!dm-{user.strip('@').split(':')[0]}"


async def say(app: App, text: str, *, sender: UserId = BOB, room: str | None = None) -> None:
    target = room or dm(sender)
    await app.router.dispatch(message(text, sender=sender, room=target, is_direct=target.startswith("!dm-")))


def texts(transport: FakeTransport, room: str) -> list[str]:
    return [m.plain for m in transport.sent if m.room_id == room]


async def outbox_texts(app: App, transport: FakeTransport, room: str) -> list[str]:
    await app.services.outbox.deliver_due()
    return texts(transport, room)


async def announce(app: App, line: str = ONE_LINE) -> int:
    await say(app, line, sender=ALICE, room="!events")
    events = await feature(app).store.upcoming(app.services.clock.now())
    return events[-1].id


async def test_one_line_announces_a_card_with_calendar_file(app: App, transport: FakeTransport) -> None:
    event_id = await announce(app)
    card = next(
        m for m in transport.sent if m.room_id == "!events" and "Casus FML" in m.plain and not m.notice
    )
    for expected in (
        "dinsdag 13 april 2027, 09:30–13:00",
        "Utrecht, Catharijnesingel 1",
        "3 PE-punten NVvA",
        "Lunch:** ja",
        "nog 2 van 2 vrij",
        "Bedrijfsarts, Arbeidsdeskundige",
        f"!aanmelden {event_id}",
    ):
        assert expected in card.plain, expected
    [upload] = [u for u in transport.uploads if u.room_id == "!events"]
    calendar = Calendar.from_ical(upload.data)
    [vevent] = calendar.walk("VEVENT")
    assert vevent["DTSTART"].dt.tzinfo.key == "Europe/Amsterdam"
    assert vevent["DTSTART"].params["TZID"] == "Europe/Amsterdam"
    assert calendar.walk("VTIMEZONE")
    assert "Aangekondigd" in texts(transport, "!events")[-1]
    async with app.services.db.session() as session:
        jobs = (
            await session.scalars(select(ScheduledJob.job_id).where(ScheduledJob.job_id.like("events:%")))
        ).all()
    assert sorted(jobs) == sorted(
        [f"events:remind:{event_id}:{label}" for label in ("7d", "1d", "2h")]
        + [f"events:evaluate:{event_id}"]
    )


async def test_members_cannot_create_events(app: App, transport: FakeTransport) -> None:
    await say(app, ONE_LINE, sender=BOB, room="!events")
    assert "Alleen organisatoren" in transport.last()


async def test_planning_advice_is_shown_and_confirmed_with_ja(app: App, transport: FakeTransport) -> None:
    await say(
        app,
        '!event nieuw titel=Middag datum="13 juli 2027" tijd=13:00-18:00 link=https://meet.example/x',
        sender=ALICE,
        room="!events",
    )
    preview = "\n".join(texts(transport, dm(ALICE)))
    assert "Planningsadvies" in preview and "maart–mei" in preview and "'s middags" in preview
    assert not [m for m in transport.sent if m.room_id == "!events" and not m.notice]
    await say(app, "ja", sender=ALICE)
    assert "Aangekondigd" in transport.last()
    assert [m for m in transport.sent if m.room_id == "!events" and not m.notice and "Middag" in m.plain]


async def test_conversation_creates_a_series(app: App, transport: FakeTransport) -> None:
    await say(app, "!event nieuw", sender=ALICE)
    for answer in (
        "Route naar werk",
        "23-03-2027, 13-04-2027, 11-05-2027",
        "9:30-12:30",
        "fysiek",
        "Utrecht",
        "Casus in drie stappen",
        "overslaan",
        "ja",
        "20",
        "overslaan",
        "overslaan",
    ):
        await say(app, answer, sender=ALICE)
    assert "Zo ziet de aankondiging eruit" in "\n".join(texts(transport, dm(ALICE)))
    await say(app, "ja", sender=ALICE)
    cards = [m.plain for m in transport.sent if m.room_id == "!events" and not m.notice]
    assert len(cards) == 3 and "Deel 1 van 3" in cards[0] and "beeldvorming" in cards[0]
    await say(app, "!bijeenkomsten", room="!events")
    assert "Reeks in 3 delen: Route naar werk" in transport.last()


async def test_waitlist_moves_up_in_order(app: App, transport: FakeTransport) -> None:
    event_id = await announce(app)
    for user in (BOB, CAROL, DAVE):
        await say(app, f"!aanmelden {event_id}", sender=user, room="!events")
    assert any("wachtlijst als nummer 1" in t for t in texts(transport, "!events"))
    assert any("Je bent aangemeld" in t for t in texts(transport, dm(BOB)))
    assert [u.filename for u in transport.uploads if u.room_id == dm(BOB)] == [f"bijeenkomst-{event_id}.ics"]
    # The card shows the event is full now (an edit of the card, not a new message).
    edit = [m for m in transport.sent if m.replaces is not None][-1]
    assert edit.room_id == "!events" and "vol (2); 1 op de wachtlijst" in edit.plain
    await say(app, f"!afmelden {event_id}", sender=BOB, room="!events")
    assert any("Goed nieuws" in t for t in await outbox_texts(app, transport, dm(DAVE)))
    statuses = {r.user_id: r.status for r in await feature(app).store.rsvps(event_id)}
    assert statuses == {BOB: "not_going", CAROL: GOING, DAVE: GOING}
    await say(app, f"!event {event_id}", sender=CAROL, room="!events")
    assert "Wie komt er (2)" in transport.last() and "Nog niet vertegenwoordigd" in transport.last()


async def test_reactions_sign_up_and_withdraw(app: App, transport: FakeTransport) -> None:
    event_id = await announce(app)
    event = await feature(app).store.get(event_id)
    assert event is not None and event.card_event_id
    reaction = IncomingReaction(
        EventId("$r1"), RoomId("!events"), BOB, EventId(event.card_event_id), "✅️", datetime.now(UTC)
    )
    await app.router.dispatch(reaction)
    assert (await feature(app).store.answer_of(event_id, BOB)).status == GOING  # type: ignore[union-attr]
    # A reaction answers no command: its confirmation goes through the outbox.
    assert any("Je bent aangemeld" in t for t in await outbox_texts(app, transport, dm(BOB)))
    await app.router.dispatch(
        IncomingReaction(
            EventId("$r2"),
            RoomId("!events"),
            BOB,
            EventId(event.card_event_id),
            "✅",
            datetime.now(UTC),
            removed=True,
        )
    )
    assert await feature(app).store.answer_of(event_id, BOB) is None
    assert "reactie" in (await outbox_texts(app, transport, dm(BOB)))[-1]


async def test_fifty_at_once_for_ten_places(app: App) -> None:
    event_id = await announce(app, ONE_LINE.replace("capaciteit=2", "capaciteit=10"))
    store = feature(app).store
    users = [f"@m{i:02d}:localhost" for i in range(50)]

    async def sign_up(user: str) -> None:
        await store.answer(event_id, user, GOING, "command")

    await asyncio.gather(*(sign_up(u) for u in users))
    rsvps = await store.rsvps(event_id)
    assert sum(r.status == GOING for r in rsvps) == 10
    waiting = [r for r in rsvps if r.status == WAITING]
    assert len(waiting) == 40
    assert [r.position for r in rsvps] == sorted(r.position for r in rsvps)
    assert all(g.position < w.position for g in rsvps if g.status == GOING for w in waiting)


async def test_reminders_are_sent_once_in_the_members_language(
    app: App, transport: FakeTransport, clock: FakeClock
) -> None:
    event_id = await announce(app)
    await say(app, f"!aanmelden {event_id}", sender=BOB, room="!events")
    await say(app, f"!aanmelden {event_id}", sender=CAROL, room="!events")
    await say(app, "!taal en", sender=CAROL)
    await say(app, "!herinneringen uit", sender=DAVE)
    event = await feature(app).store.get(event_id)
    assert event is not None
    clock.set(event.starts_at - timedelta(days=7))
    assert await app.services.scheduler.run_due() == 1
    assert await app.services.scheduler.run_due() == 0
    bob = [t for t in await outbox_texts(app, transport, dm(BOB)) if "Herinnering" in t]
    carol = [t for t in texts(transport, dm(CAROL)) if "Reminder" in t]
    assert len(bob) == 1 and "over 7 dagen" in bob[0] and len(carol) == 1
    # Bob turns reminders off: the next one skips him.
    await say(app, "!herinneringen uit", sender=BOB)
    clock.set(event.starts_at - timedelta(days=1))
    await app.services.scheduler.run_due()
    assert len([t for t in await outbox_texts(app, transport, dm(BOB)) if "Herinnering" in t]) == 1


async def test_moving_an_event_reschedules_and_tells_everyone(app: App, transport: FakeTransport) -> None:
    event_id = await announce(app)
    await say(app, f"!aanmelden {event_id}", sender=BOB, room="!events")
    before = Calendar.from_ical(transport.uploads[-1].data).walk("VEVENT")[0]
    await say(
        app, f"!event wijzig {event_id} datum=20-04-2027 tijd=10:00-12:30", sender=ALICE, room="!events"
    )
    assert "bijgewerkt" in transport.last()
    assert any("gewijzigd" in t for t in await outbox_texts(app, transport, dm(BOB)))
    after = Calendar.from_ical(transport.uploads[-1].data).walk("VEVENT")[0]
    assert after["UID"] == before["UID"] and int(after["SEQUENCE"]) == int(before["SEQUENCE"]) + 1
    async with app.services.db.session() as session:
        job = await session.get(ScheduledJob, f"events:remind:{event_id}:2h")
    assert (
        job is not None
        and job.run_at.replace(tzinfo=UTC) == datetime(2027, 4, 20, 6, 0, tzinfo=UTC) - REMINDER_LEAD
    )
    assert transport.redactions  # the old card is replaced
    await say(app, f"!event annuleer {event_id}", sender=ALICE, room="!events")
    assert any("gaat helaas niet door" in t for t in await outbox_texts(app, transport, dm(BOB)))
    async with app.services.db.session() as session:
        statuses = (
            await session.scalars(select(ScheduledJob.status).where(ScheduledJob.job_id.like("events:%")))
        ).all()
    assert set(statuses) == {"cancelled"}


async def test_attendance_accreditation_and_evaluation(
    app: App, transport: FakeTransport, clock: FakeClock
) -> None:
    event_id = await announce(app)
    await say(app, f"!aanmelden {event_id}", sender=BOB, room="!events")
    event = await feature(app).store.get(event_id)
    assert event is not None
    clock.set(event.ends_at + timedelta(minutes=5))
    await say(app, f"!event aanwezig {event_id} @bob:localhost carol", sender=ALICE, room="!events")
    assert "2 nieuw" in transport.last()
    await say(app, "!mijn-accreditatie", sender=BOB)
    # The overview, then the certificate (the accreditation feature's) in the DM.
    report = transport.texts()[-2]
    assert "3 PE-punten NVvA" in report and "Punten bij elkaar: 3" in report
    assert "bewijs van deelname" in transport.last()
    clock.set(event.ends_at + timedelta(days=1))
    await app.services.scheduler.run_due()
    invites = await outbox_texts(app, transport, dm(BOB))
    assert any("Wat heeft vandaag voor jou (best) wel gewerkt?" in t for t in invites)
    await say(app, "De casus van een collega-VA", sender=BOB)
    # The scale question is a poll in the DM, whose text says how to answer without one.
    room, poll, _ = transport.polls[-1]
    assert room == dm(BOB) and [a.text for a in poll.answers][3] == "goed"
    assert "Welk cijfer" in transport.last() and "`!stem 2`" in transport.last()
    await say(app, "4", sender=BOB)
    await say(app, "Te weinig tijd", sender=BOB)
    await say(app, "overslaan", sender=BOB)
    await say(app, "AD", sender=BOB)  # no profile: the profession is asked last
    assert "Dank je wel" in transport.last()
    await say(app, f"!event evaluatie {event_id}", sender=ALICE, room="!events")
    # Members' answers go to the organiser's DM; the room only hears where they went.
    assert "privégesprek" in transport.last() and "De casus" not in transport.last()
    [report] = [m.plain for m in transport.sent if m.room_id == dm(ALICE) and "Evaluaties van" in m.plain]
    assert "Arbeidsdeskundige" in report and "De casus van een collega-VA" in report and BOB not in report
    assert "gemiddeld 4,0 van de 5 (1 antwoord)" in report
    assert not [m for m in transport.sent if m.room_id == "!events" and "De casus" in m.plain]


async def test_export_and_erase_leave_no_trace(app: App, transport: FakeTransport) -> None:
    event_id = await announce(app)
    await say(app, f"!aanmelden {event_id}", sender=BOB, room="!events")
    await say(app, f"!aanmelden {event_id}", sender=CAROL, room="!events")
    await say(app, f"!aanmelden {event_id}", sender=DAVE, room="!events")
    await say(app, "!herinneringen uit", sender=BOB)
    exported = await app.services.privacy.export_all(BOB)
    assert exported["events"]["sign_ups"][0]["status"] == GOING and exported["events"]["reminders"] == "off"
    await app.services.privacy.erase_all(BOB)
    assert await rows_mentioning(app.services.db, BOB) == []
    # Bob's place went to Dave.
    assert (await feature(app).store.answer_of(event_id, DAVE)).status == GOING  # type: ignore[union-attr]


async def test_bad_input_gets_a_clear_answer(app: App, transport: FakeTransport) -> None:
    await say(app, "!aanmelden 999", room="!events")
    assert "geen bijeenkomst met nummer 999" in transport.last()
    await say(
        app, "!event nieuw titel=X datum=31-02-2027 tijd=9-12 plaats=Utrecht", sender=ALICE, room="!events"
    )
    assert "`31-02-2027` bestaat niet" in transport.last()
    await say(
        app, "!event nieuw titel=X datum=13-04-2027 tijd=12-9 plaats=Utrecht", sender=ALICE, room="!events"
    )
    assert "niet na het begin" in transport.last()
    await say(app, "!herinneringen misschien", room="!events")
    assert "`aan` of `uit`" in transport.last()


async def test_after_a_long_downtime_only_the_nearest_reminder_goes(
    app: App, transport: FakeTransport, clock: FakeClock
) -> None:
    event_id = await announce(app)
    await say(app, f"!aanmelden {event_id}", sender=BOB, room="!events")
    event = await feature(app).store.get(event_id)
    assert event is not None
    # Down from before the week-before reminder until after the day-before one.
    clock.set(event.starts_at - timedelta(hours=20))
    await app.services.scheduler.run_due()
    reminders = [t for t in await outbox_texts(app, transport, dm(BOB)) if "Herinnering" in t]
    assert len(reminders) == 1 and "over 20 uur" in reminders[0]
    # After the start, what is left is recorded as missed, not sent.
    clock.set(event.starts_at + timedelta(minutes=1))
    await app.services.scheduler.run_due()
    async with app.services.db.session() as session:
        job = await session.get(ScheduledJob, f"events:remind:{event_id}:2h")
    assert job is not None and job.status == "missed"
    assert len([t for t in await outbox_texts(app, transport, dm(BOB)) if "Herinnering" in t]) == 1


async def test_without_an_events_room_organisers_are_told(app: App, transport: FakeTransport) -> None:
    app.services.rooms.by_name.pop("events")
    await say(app, ONE_LINE, sender=ALICE, room="!welcome")
    assert "geen ruimte voor bijeenkomsten" in transport.last()


async def test_an_organiser_demoted_half_way_cannot_announce(app: App, transport: FakeTransport) -> None:
    app.services.rooms.space_id = RoomId("!space")
    transport.levels[("!space", BOB)] = 50  # a moderator of the community
    await say(
        app,
        '!event nieuw titel=Middag datum="13 juli 2027" tijd=13:00-18:00 link=https://meet.example/x',
        sender=BOB,
        room="!events",
    )
    assert "Planningsadvies" in "\n".join(texts(transport, dm(BOB)))
    transport.levels[("!space", BOB)] = 0  # taken away while the preview waits for "ja"
    await say(app, "ja", sender=BOB)
    assert transport.last() == app.services.catalogue.render("nl", "events.error.organisers_only").plain
    assert not [m for m in transport.sent if m.room_id == "!events" and not m.notice]  # no card
