"""An event's title, programme and accreditation go on its card in the events room: a
text with personal data is refused, masked, and nothing is kept or posted."""

from __future__ import annotations

from datetime import timedelta

from bot.app import App
from bot.clock import FakeClock
from bot.storage.models import Conversation
from tests.fakes import ALICE, BOB, FakeTransport
from tests.unit.events.test_feature import ONE_LINE, announce, dm, feature, say, texts

PLAIN = '!event nieuw titel="Casus FML" datum=13-04-2027 tijd=09:30-13:00 plaats="Utrecht" lunch=ja'


async def events_kept(app: App) -> int:
    return len(await feature(app).store.upcoming(app.services.clock.now()))


async def test_a_programme_with_a_bsn_phone_or_email_is_refused_and_nothing_is_posted(
    app: App, transport: FakeTransport
) -> None:
    cases = {
        "Casus van cliënt 111222333 bespreken": "een BSN-achtig nummer 11•••••33",
        "Aanmelden: bel 06-12345678": "een telefoonnummer 06••••••78",
        "Vragen vooraf naar jan.jansen@example.nl": "een e-mailadres j•••@•••.nl",
    }
    for programme, masked in cases.items():
        await say(app, f'{PLAIN} programma="{programme}"', sender=ALICE, room="!events")
        refusal = texts(transport, "!events")[-1]
        assert "persoonsgegevens" in refusal and masked in refusal
        assert "111222333" not in refusal and "12345678" not in refusal and "jan.jansen" not in refusal
    assert await events_kept(app) == 0
    assert [m for m in transport.sent if m.room_id == "!events" and not m.notice] == []


async def test_a_change_with_personal_data_leaves_the_event_and_its_card_as_they_were(
    app: App, transport: FakeTransport
) -> None:
    event_id = await announce(app, ONE_LINE)
    sent = len(transport.sent)
    await say(
        app,
        f'!event wijzig {event_id} programma="Met mevrouw De Vries, 06-12345678"',
        sender=ALICE,
        room="!events",
    )
    refusal = transport.last()
    assert "een telefoonnummer 06••••••78" in refusal and "een naam De•••es" in refusal
    assert len(transport.sent) == sent + 1  # only the refusal: no card edit, nobody told
    event = await feature(app).store.get(event_id)
    assert event is not None and event.programme == "Casus en netwerken"


async def test_the_conversation_asks_for_the_programme_again(app: App, transport: FakeTransport) -> None:
    await say(app, "!event nieuw", sender=ALICE)
    for answer in ("Route naar werk", "13-04-2027", "9:30-12:30", "fysiek", "Utrecht"):
        await say(app, answer, sender=ALICE)
    question = transport.last()
    await say(app, "Casus van BSN 111222333", sender=ALICE)
    assert "een BSN-achtig nummer 11•••••33" in texts(transport, dm(ALICE))[-2]
    assert transport.last() == question  # the same question again
    async with app.services.db.session() as session:
        state = await session.get(Conversation, ALICE)
    assert state is not None and "111222333" not in str(state.answers)
    await say(app, "Casus in drie stappen", sender=ALICE)
    assert transport.last() != question


async def test_an_evaluation_answer_with_personal_data_is_asked_again(
    app: App, transport: FakeTransport, clock: FakeClock
) -> None:
    """The answers are shown to the organisers in the report: screened the same way."""
    event_id = await announce(app, ONE_LINE)
    await say(app, f"!aanmelden {event_id}", sender=BOB, room="!events")
    event = await feature(app).store.get(event_id)
    assert event is not None
    clock.set(event.ends_at + timedelta(days=1))
    await app.services.scheduler.run_due()
    await app.services.outbox.deliver_due()
    question = "Wat heeft vandaag voor jou (best) wel gewerkt?"
    assert question in transport.last()
    await say(app, "Het gesprek met meneer Bakker, 06-12345678", sender=BOB)
    assert "een telefoonnummer 06••••••78" in texts(transport, dm(BOB))[-2]
    assert question in transport.last()  # asked again
    async with app.services.db.session() as session:
        state = await session.get(Conversation, BOB)
    assert state is not None and "Bakker" not in str(state.answers)
    await say(app, "De casus van een collega-VA", sender=BOB)
    assert question not in transport.last()
