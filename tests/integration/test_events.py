"""Events as organisers and members meet them, on a real Synapse with real matrix-nio
clients: creating (in one line and in a conversation), the card with its calendar file,
signing up by command and by reaction, the waitlist, fifty members signing up at once
for ten places, reminders at a moved clock across a daylight-saving change and a restart,
and an evaluation round."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar
from nio import (
    MemoryDownloadResponse,
    MessageDirection,
    RoomMessageFile,
    RoomMessageNotice,
    RoomMessagesResponse,
)

from bot.clock import OffsetClock
from bot.config import Config, parse_config
from bot.devtools.synapse import LocalSynapse
from bot.storage import Database
from commands.events.feature import Events
from commands.events.records import EventRecord
from commands.events.store import GOING, WAITING
from tests.integration.conftest import (
    SERVER,
    Accounts,
    BotRunner,
    Member,
    bot_config_dict,
    is_text,
    outbox_barrier,
)
from tests.privacy_scan import rows_mentioning

pytestmark = pytest.mark.integration
BOT = f"@kennisbrug:{SERVER}"


@pytest.fixture
def bot_config(synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str) -> Config:
    """The shared test config with an events room; flood control opened up, since
    these members type faster than people do."""
    raw = bot_config_dict(synapse, accounts, tmp_path, tag)
    raw["rooms"]["events"] = f"#bijeenkomsten-{tag}:{SERVER}"
    raw["flood"] = {"burst": 100, "seconds_per_command": 0.05}
    # Plain direct chats: these members' clients have no encryption (the encrypted DM
    # is covered by test_introductions.py and test_encryption.py).
    raw["matrix"]["encrypt_private_rooms"] = False
    return parse_config(raw, tmp_path / "bot.yaml", env={})


def events_feature(runner: BotRunner) -> Events:
    assert runner.app is not None
    return next(f for f in runner.app.features if isinstance(f, Events))


async def _accept_invites(member: Member) -> None:
    for room_id in list(member.client.invited_rooms):
        await member.client.join(room_id)


async def _wait(
    member: Member, predicate: Callable[[str, Any], bool], timeout: float = 30, count: int = 1
) -> list[tuple[str, Any]]:
    """Sync (accepting the bot's DM invites) until ``count`` events match."""
    deadline = time.monotonic() + timeout
    while True:
        found = [(room, event) for room, event in member.seen if predicate(room, event)]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            shown = [getattr(e, "body", "")[:80] for _, e in member.seen[-8:]]
            raise AssertionError(f"waited {timeout}s for {count}, saw {len(found)}; last: {shown}")
        await member.sync_once(1000)
        await _accept_invites(member)


def _notice(contains: str, since_ms: int = 0) -> Callable[[str, Any], bool]:
    return lambda _room, e: (
        isinstance(e, RoomMessageNotice) and contains in e.body and e.server_timestamp >= since_ms
    )


async def _ics(member: Member, event: Any) -> Calendar:
    download = await member.client.download(mxc=event.url)
    assert isinstance(download, MemoryDownloadResponse)
    return Calendar.from_ical(download.body)


async def _latest_event(runner: BotRunner) -> EventRecord:
    events = await events_feature(runner).store.upcoming(datetime.now(UTC) - timedelta(days=1))
    return events[-1]


async def test_create_card_sign_up_reactions_and_waitlist(
    bot: BotRunner, bot_config: Config, member_factory: Any, tag: str
) -> None:
    since = int(time.time() * 1000) - 1000
    alice: Member = await member_factory("alice")
    bob: Member = await member_factory("bob")
    carol: Member = await member_factory("carol")
    room = await alice.join(bot_config.rooms["events"])
    await bob.join(room)
    await carol.join(room)

    # In one line: announced at once (no planning advice for a spring morning).
    title = f"Casus FML {tag}"
    answer = await alice.ask(
        room,
        f'!event nieuw titel="{title}" datum="dinsdag 13 april 2027" tijd=09:30-13:00 '
        'plaats="Utrecht, Catharijnesingel 1" accreditatie="3 PE-punten NVvA" lunch=ja capaciteit=1 '
        'doelgroep=BA,AD programma="Een casus in drie stappen, daarna netwerken"',
        timeout=30,
    )
    assert "Aangekondigd" in answer.body, answer.body
    event = await _latest_event(bot)
    [(_, card)] = await _wait(
        bob,
        lambda r, e: r == room and e.sender == BOT and is_text(e) and title in e.body,
    )
    for expected in (
        "dinsdag 13 april 2027, 09:30–13:00",
        "Catharijnesingel 1",
        "3 PE-punten NVvA",
        "nog 1 van 1 vrij",
        f"!aanmelden {event.id}",
        "Bedrijfsarts, Arbeidsdeskundige",
    ):
        assert expected in card.body, expected
    [(_, file_event)] = await _wait(bob, lambda r, e: r == room and isinstance(e, RoomMessageFile))
    calendar = await _ics(bob, file_event)
    [vevent] = calendar.walk("VEVENT")
    assert str(vevent["UID"]) == event.uid and vevent["DTSTART"].params["TZID"] == "Europe/Amsterdam"
    assert vevent["DTSTART"].dt.hour == 9 and vevent["DTSTART"].dt.minute == 30

    # Bob signs up by command: a short answer in the room, the confirmation and the
    # calendar file in his DM.
    reply = await bob.ask(room, f"!aanmelden {event.id}")
    assert "Je bent aangemeld" in reply.body
    # The card is edited to show the event is full.
    await _wait(
        bob,
        lambda r, e: (
            r == room
            and e.sender == BOT
            and "m.new_content" in e.source.get("content", {})
            and "vol (1)" in e.source["content"]["m.new_content"]["body"]
        ),
    )
    await _wait(bob, _notice("Het agendabestand stuur ik hierbij", since))
    [(_, dm_file)] = await _wait(
        bob, lambda r, e: r != room and isinstance(e, RoomMessageFile) and e.server_timestamp >= since
    )
    assert str((await _ics(bob, dm_file)).walk("VEVENT")[0]["UID"]) == event.uid

    # Carol reacts ✅ on the card: the event is full, she is first on the waitlist.
    reaction = await carol.client.room_send(
        room,
        "m.reaction",
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": card.event_id, "key": "✅"}},
    )
    await _wait(carol, _notice("je staat op de wachtlijst, als nummer 1", since))
    # Bob cancels: Carol moves up and is told.
    assert "afgemeld" in (await bob.ask(room, f"!afmelden {event.id}")).body
    await _wait(carol, _notice("Goed nieuws", since))
    statuses = {r.user_id: r.status for r in await events_feature(bot).store.rsvps(event.id)}
    assert statuses == {bob.user_id: "not_going", carol.user_id: GOING}
    # Carol takes her reaction back: that withdraws her sign-up.
    await carol.client.room_redact(room, reaction.event_id)
    await _wait(carol, _notice("Je reactie op", since))
    assert await events_feature(bot).store.answer_of(event.id, carol.user_id) is None

    # Who is coming, per profession, in !event; the list in !bijeenkomsten.
    assert "Er heeft zich nog niemand aangemeld" in (await carol.ask(room, f"!event {event.id}")).body
    assert title in (await carol.ask(room, "!bijeenkomsten")).body

    # In a conversation in the DM, with planning advice (an afternoon in July) confirmed with ja.
    await alice.send(room, "!event nieuw")
    [(dm, _)] = await _wait(alice, _notice("Hoe heet de bijeenkomst?", since))
    second = f"Zomersessie {tag}"
    for text in (
        second,
        "13-07-2027",
        "14:00-17:00",
        "online",
        "https://meet.example/kb",
        "overslaan",
        "overslaan",
        "nee",
        "overslaan",
        "overslaan",
        "overslaan",
    ):
        before = len(alice.notices(dm))
        await alice.send(dm, text)
        await alice.wait_for(lambda r, e: r == dm and isinstance(e, RoomMessageNotice), count=before + 1)
    await _wait(alice, _notice("Planningsadvies", since))
    await alice.send(dm, "ja")
    await _wait(alice, _notice("Aangekondigd", since))
    await _wait(bob, lambda r, e: r == room and e.sender == BOT and is_text(e) and second in e.body)


@pytest.fixture
async def fifty_members(synapse: LocalSynapse, tag: str) -> AsyncIterator[list[Member]]:
    """Fifty extra accounts of this test's own, logged in."""
    password = secrets.token_urlsafe(10)
    names = [f"ev{tag}m{i:02d}" for i in range(50)]
    await asyncio.gather(*(synapse.register_user(name, password) for name in names))
    members = [Member(synapse, f"@{name}:{SERVER}", password) for name in names]
    await asyncio.gather(*(m.login() for m in members))
    yield members
    await asyncio.gather(*(m.close() for m in members))


async def test_fifty_sign_up_at_once_for_ten_places(
    bot: BotRunner, bot_config: Config, member_factory: Any, fifty_members: list[Member], tag: str
) -> None:
    alice: Member = await member_factory("alice")
    room = await alice.join(bot_config.rooms["events"])
    answer = await alice.ask(
        room,
        f'!event nieuw titel="Drukbezocht {tag}" datum=20-04-2027 tijd=09:30-12:30 plaats=Amersfoort capaciteit=10',
        timeout=30,
    )
    assert "Aangekondigd" in answer.body
    event = await _latest_event(bot)
    await asyncio.gather(*(m.join(room) for m in fifty_members))
    await asyncio.gather(*(m.send(room, f"!aanmelden {event.id}") for m in fifty_members))

    store = events_feature(bot).store
    deadline = time.monotonic() + 120
    while len(await store.rsvps(event.id)) < 50:
        assert time.monotonic() < deadline, "not every sign-up was handled"
        await asyncio.sleep(0.5)
    rsvps = await store.rsvps(event.id)  # in the order of sign-up
    assert sum(r.status == GOING for r in rsvps) == 10
    assert [r.status for r in rsvps] == [GOING] * 10 + [WAITING] * 40
    # In order: the homeserver's order of the commands is the order of the list.
    response = await alice.client.room_messages(
        room, start=alice.client.next_batch or "", direction=MessageDirection.back, limit=200
    )
    await alice.sync_once(100)
    response = await alice.client.room_messages(
        room, start=alice.client.next_batch or "", direction=MessageDirection.back, limit=300
    )
    assert isinstance(response, RoomMessagesResponse)
    commands = [
        e.sender for e in reversed(response.chunk) if getattr(e, "body", "") == f"!aanmelden {event.id}"
    ]
    assert commands == [r.user_id for r in rsvps]
    # The last one to sign up hears they are number 40 on the waitlist.
    last = next(m for m in fifty_members if m.user_id == rsvps[-1].user_id)
    await _wait(last, lambda r, e: r == room and isinstance(e, RoomMessageNotice) and "nummer 40" in e.body)


async def test_reminders_across_daylight_saving_and_a_restart_then_evaluation(
    bot_config: Config, member_factory: Any, tag: str
) -> None:
    clock = OffsetClock()
    runner = BotRunner(bot_config, clock=clock)
    await runner.start()
    try:
        since = int(time.time() * 1000) - 1000
        alice: Member = await member_factory("alice")
        bob: Member = await member_factory("bob")
        room = await alice.join(bot_config.rooms["events"])
        await bob.join(room)
        # Tuesday 30 March 2027, two days after summer time starts.
        title = f"Na de klokwissel {tag}"
        answer = await alice.ask(
            room,
            f'!event nieuw titel="{title}" datum=30-03-2027 tijd=09:30-12:30 plaats=Zwolle '
            'accreditatie="2 punten"',
            timeout=30,
        )
        assert "Aangekondigd" in answer.body
        event = await _latest_event(runner)
        assert event.starts_at == datetime(2027, 3, 30, 7, 30, tzinfo=UTC)
        assert "Je bent aangemeld" in (await bob.ask(room, f"!aanmelden {event.id}")).body

        async def move_to(moment: datetime) -> None:
            clock.advance(moment - clock.now())
            assert runner.app is not None
            await runner.app.services.scheduler.catch_up()

        def reminders() -> list[Any]:
            return [
                e
                for _, e in bob.seen
                if isinstance(e, RoomMessageNotice)
                and "Herinnering" in e.body
                and title in e.body
                and e.server_timestamp >= since
            ]

        # A week before at the same wall-clock time: 09:30 winter time is 08:30 UTC.
        await move_to(datetime(2027, 3, 23, 8, 29, tzinfo=UTC))
        await outbox_barrier(runner, bob)  # a reminder sent too early would be here now
        assert reminders() == []
        await move_to(datetime(2027, 3, 23, 8, 30, 5, tzinfo=UTC))
        await _wait(bob, lambda r, e: any(x is e for x in reminders()))
        assert "over 7 dagen" in reminders()[0].body

        # The bot is down when the day-before reminder falls due; it comes up an hour
        # later and sends it then, once; another restart sends nothing again.
        await runner.stop()
        clock.advance(datetime(2027, 3, 29, 8, 30, tzinfo=UTC) - clock.now())
        await runner.start()
        await _wait(bob, lambda r, e: len(reminders()) >= 2)
        await runner.stop()
        await runner.start()
        assert runner.app is not None
        await runner.app.services.scheduler.catch_up()
        await outbox_barrier(runner, bob)  # past it, a repeat of either would be here
        assert len(reminders()) == 2

        # Two hours before, in summer time: 07:30 local is 05:30 UTC.
        await move_to(datetime(2027, 3, 30, 5, 29, tzinfo=UTC))
        await outbox_barrier(runner, bob)
        assert len(reminders()) == 2
        await move_to(datetime(2027, 3, 30, 5, 30, 5, tzinfo=UTC))
        await _wait(bob, lambda r, e: len(reminders()) >= 3)
        assert len(reminders()) == 3

        # After the event: attendance, accreditation, and the evaluation the next morning.
        await move_to(datetime(2027, 3, 30, 11, 0, tzinfo=UTC))
        saved = await alice.ask(room, f"!event aanwezig {event.id} {bob.user_id}")
        assert "1 nieuw" in saved.body
        assert "2 punten" in (await bob.ask(room, "!mijn-accreditatie")).body
        await move_to(datetime(2027, 3, 31, 8, 0, 5, tzinfo=UTC))  # 10:00 local
        # Bob never answered the welcome's consent question, so that conversation is
        # still open: the invitation tells him how to start the evaluation.
        [(dm, _)] = await _wait(bob, _notice(f"Dank je wel dat je er was bij **{title}", since))
        # The event carries accreditation: his certificate comes that morning as well.
        await _wait(bob, _notice(f"bewijs van deelname voor **{title}", since))
        before = len(bob.notices(dm))
        await bob.send(dm, f"!evaluatie {event.id}")
        found = await bob.wait_for(
            lambda r, e: r == dm and isinstance(e, RoomMessageNotice), count=before + 2
        )
        assert "Wat heeft vandaag voor jou (best) wel gewerkt?" in found[before + 1].body
        # The rating comes as a poll (its text tells apps without polls what to type);
        # Bob taps "goed" in his app: a real poll response answers the question.
        await bob.send(dm, "De casus van een verzekeringsarts")
        [(_, rating)] = await _wait(
            bob,
            lambda r, e: (
                r == dm
                and getattr(e, "source", {}).get("type") == "org.matrix.msc3381.poll.start"
                and e.source.get("origin_server_ts", 0) >= since
            ),
        )
        assert (
            "Welk cijfer" in rating.source["content"]["body"]
            and "`!stem 2`" in rating.source["content"]["body"]
        )
        before = len(bob.notices(dm))
        await bob.client.room_send(
            dm,
            "org.matrix.msc3381.poll.response",
            {
                "m.relates_to": {"rel_type": "m.reference", "event_id": rating.event_id},
                "org.matrix.msc3381.poll.response": {"answers": ["4"]},
            },
        )
        found = await bob.wait_for(
            lambda r, e: r == dm and isinstance(e, RoomMessageNotice), count=before + 1
        )
        assert "niet (zo) gewerkt" in found[before].body
        for text, expect in (
            ("Te weinig tijd om na te praten", "hoger niveau"),
            ("Vaker in het oosten", "Wat is je beroep"),
        ):
            before = len(bob.notices(dm))
            await bob.send(dm, text)
            found = await bob.wait_for(
                lambda r, e: r == dm and isinstance(e, RoomMessageNotice), count=before + 1
            )
            assert expect in found[before].body
        await bob.send(dm, "AD")
        await _wait(bob, _notice("Dank je wel!", since))
        pointer = (await alice.ask(room, f"!event evaluatie {event.id}")).body
        assert "privégesprek" in pointer and "Vaker in het oosten" not in pointer
        [(report_room, report_event)] = await _wait(alice, _notice("Evaluaties van", since))
        report = report_event.body
        assert report_room != room
        assert "Arbeidsdeskundige" in report and "Vaker in het oosten" in report and bob.user_id not in report
        assert "gemiddeld 4,0 van de 5" in report

        # Bob's export holds his sign-up, attendance and evaluation; erasing leaves no row naming him.
        await bob.send(dm, "!mijngegevens")
        [(_, export)] = await _wait(
            bob,
            lambda r, e: (
                r == dm
                and isinstance(e, RoomMessageFile)
                and e.body.endswith(".json")
                and e.server_timestamp >= since
            ),
        )
        download = await bob.client.download(mxc=export.url)
        assert isinstance(download, MemoryDownloadResponse)
        exported = json.loads(download.body.decode("utf-8"))["data"]["events"]
        assert exported["sign_ups"][0]["status"] == GOING and exported["attended"][0]["event"] == event.id
        assert exported["evaluations"][0]["worked"] == "De casus van een verzekeringsarts"
        assert exported["evaluations"][0]["rating"] == 4
        await bob.send(dm, "!vergeet-mij")
        await _wait(bob, _notice("Wil je dat ik alles vergeet", since))
        await bob.send(dm, "ja")
        await _wait(bob, _notice("Klaar", since))
        db = Database(bot_config.database.url)
        try:
            assert await rows_mentioning(db, bob.user_id) == []
        finally:
            await db.dispose()
    finally:
        await runner.stop()
