"""Buddies as members meet them, through the real router and a real database file;
only the chat network is a recording fake."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import App
from bot.clock import FakeClock
from bot.ids import RoomId, UserId
from commands.buddy.feature import Buddy
from commands.buddy.models import BuddyOffer, BuddyPair
from commands.buddy.words import checkin_answer, find_options
from tests.fakes import BOB, FakeTransport, message
from tests.privacy_scan import rows_mentioning

pytestmark = pytest.mark.both_databases

CAROL = UserId("@carol:localhost")
DAVE = UserId("@dave:localhost")
ERIN = UserId("@erin:localhost")
FRANK = UserId("@frank:localhost")


def feature(app: App) -> Buddy:
    return next(f for f in app.features if isinstance(f, Buddy))


def dm(user: UserId) -> str:
    return f"!dm-{user.strip('@').split(':')[0]}"


async def say(app: App, text: str, sender: UserId = BOB, room: str | None = None) -> None:
    target = room or dm(sender)
    await app.router.dispatch(message(text, sender=sender, room=target, is_direct=target.startswith("!dm-")))
    await app.services.outbox.deliver_due()


def texts(transport: FakeTransport, room: str) -> list[str]:
    return [m.plain for m in transport.sent if m.room_id == room]


async def profile(app: App, user: UserId, **values: Any) -> None:
    defaults: dict[str, Any] = {"profession": "arbeidsdeskundige", "experience": "ervaren", "region": "utrecht"}
    await feature(app).profiles.save(user, {**defaults, **values, "listed": True})


async def available(app: App, user: UserId, extra: str = "") -> None:
    await say(app, f"!buddy beschikbaar ja {extra}".strip(), sender=user)


async def run_jobs(app: App) -> None:
    """What the timers would do: due jobs (and the nudges they plan), then the outbox."""
    for _ in range(3):
        await app.services.scheduler.run_due()
    await app.services.outbox.deliver_due()


async def offers(app: App) -> list[BuddyOffer]:
    async with app.services.db.session() as session:
        return list((await session.scalars(select(BuddyOffer).order_by(BuddyOffer.id))).all())


async def test_being_available_needs_a_profile_and_takes_a_maximum(app: App, transport: FakeTransport) -> None:
    await say(app, "!buddy beschikbaar ja")
    assert "eerst je profiel nodig" in transport.last() and "!intro" in transport.last()
    await profile(app, BOB)
    await say(app, "!buddy beschikbaar ja max=2")
    assert "hoogstens 2 koppels" in transport.last()
    await say(app, "!buddy beschikbaar ja max=99")
    assert "Kies een getal van 1 tot en met 5" in transport.last()
    await say(app, "!buddy pauze tot 1 mei")
    assert "pauze tot zaterdag 1 mei 2027" in transport.last()
    await say(app, "!buddy pauze tot 1 januari 2020")
    assert "ligt niet in de toekomst" in transport.last()
    await say(app, "!buddy status")
    assert "Beschikbaar als buddy" in transport.last() and "Gepauzeerd tot" in transport.last()
    await say(app, "!buddy available no")
    assert "niet meer als buddy" in transport.last()


async def test_blocking_is_confidential_and_only_in_a_direct_chat(app: App, transport: FakeTransport) -> None:
    await say(app, f"!buddy blokkeer {CAROL}", room="!welcome")
    assert "privégesprek" in transport.last()
    await say(app, f"!buddy blokkeer {CAROL}")
    assert "hoort hier niets van" in transport.last()
    assert texts(transport, dm(CAROL)) == []


async def test_full_flow_refusal_timeout_acceptance_checkin_and_stop(app: App, transport: FakeTransport, clock: FakeClock) -> None:
    await profile(app, BOB, experience="frisse-blik", themes=["buikpijndossiers"], meet_days=["di"])
    await profile(app, DAVE, experience="diepgaand")  # best: a mentor in the same region
    await profile(app, CAROL, profession="bedrijfsarts", region="gelderland")
    await profile(app, ERIN, experience="diepgaand", themes=["buikpijndossiers"])  # blocked by bob
    await profile(app, FRANK, region="limburg")
    for member in (DAVE, CAROL, ERIN, FRANK):
        await available(app, member)
    await say(app, f"!buddy blokkeer {ERIN}")

    await say(app, '!buddy zoek onderwerp="FML bij wisselende klachten"', room="!welcome")
    assert "Ik heb een collega gevraagd" in texts(transport, "!welcome")[-1]
    [first] = await offers(app)
    assert first.candidate_id == DAVE
    ask = texts(transport, dm(DAVE))[-1]
    assert "Een collega zoekt een buddy" in ask and BOB in ask and "Arbeidsdeskundige" in ask
    assert "FML bij wisselende klachten" in ask and f"!buddy accepteer {first.request_id}" in ask
    assert texts(transport, dm(ERIN))[-1].startswith("Dank je")  # only her own reply, no offer

    # Dave declines: bob hears it moved on, without a name; the next candidate is asked.
    await say(app, f"!buddy weiger {first.request_id}", sender=DAVE)
    assert "ik vraag iemand anders" in texts(transport, dm(DAVE))[-1].lower()
    moved = texts(transport, dm(BOB))[-1]
    assert "iemand anders gevraagd" in moved and DAVE not in moved
    second = (await offers(app))[-1]
    assert second.candidate_id == CAROL
    # One number for one request on both sides: Carol is asked about request 1 too,
    # though hers is the second offer, and answers with that number.
    searching = [t for t in texts(transport, dm(BOB)) if "verzoek" in t]
    assert all(f"verzoek {first.request_id}" in t for t in searching) and second.id != first.request_id
    assert f"(verzoek {first.request_id})" in texts(transport, dm(CAROL))[-1]
    assert f"!buddy accepteer {first.request_id}" in texts(transport, dm(CAROL))[-1]

    # Carol does not answer in three days: the request moves to frank.
    clock.advance(timedelta(days=3, minutes=1))
    await run_jobs(app)
    third = (await offers(app))[-1]
    assert (await offers(app))[1].status == "expired" and third.candidate_id == FRANK
    assert CAROL not in texts(transport, dm(BOB))[-1]
    await say(app, f"!buddy accepteer {second.request_id}", sender=CAROL)
    assert "staat niet meer open" in texts(transport, dm(CAROL))[-1]

    # Frank accepts: a private room for two with a first agenda; bob hears who it is.
    await say(app, f"!buddy accepteer {third.request_id}", sender=FRANK)
    async with app.services.db.session() as session:
        pair = (await session.scalars(select(BuddyPair))).one()
    assert pair.room_id and app.services.rooms.is_known(RoomId(pair.room_id))
    agenda = texts(transport, pair.room_id)
    assert len(agenda) == 1 and "Bespreek samen een casus" in agenda[0] and "beslissingen weegt" in agenda[0]
    assert "Oefen samen met een hulpmiddel" in agenda[0]
    assert FRANK in texts(transport, dm(BOB))[-1] and "privéruimte" in texts(transport, dm(BOB))[-1]
    # The same acceptance again (a replay after a crash) makes no second room or agenda.
    await say(app, f"!buddy accepteer {third.request_id}", sender=FRANK)
    assert len(texts(transport, pair.room_id)) == 1

    # Two weeks later both are asked whether they have met.
    clock.advance(timedelta(weeks=2))
    await run_jobs(app)
    assert "Hebben jullie elkaar al gesproken?" in texts(transport, dm(BOB))[-1]
    assert "Hebben jullie elkaar al gesproken?" in texts(transport, dm(FRANK))[-1]
    await say(app, "!buddy checkin nog niet")
    assert "één korte afspraak" in transport.last()
    await say(app, "!buddy checkin misschien")
    assert "begrijp ik niet" in transport.last()
    await say(app, "!buddy status")
    assert f"Koppel {pair.id} met" in transport.last() and FRANK in transport.last()

    # Frank ends the pair: both hear it kindly; the six-week check-in is not sent.
    await say(app, "!buddy stop", sender=FRANK)
    assert f"Buddy-koppel {pair.id} is afgerond" in texts(transport, dm(FRANK))[-1]
    assert "is afgerond. Dank je wel voor het sparren" in texts(transport, dm(BOB))[-1]
    before = len(texts(transport, dm(BOB)))
    clock.advance(timedelta(weeks=5))
    await run_jobs(app)
    assert len(texts(transport, dm(BOB))) == before


async def test_a_request_that_found_nobody_is_retried_when_someone_becomes_available(
    app: App, transport: FakeTransport
) -> None:
    await profile(app, BOB)
    await profile(app, CAROL, profession="jobcoach")
    await say(app, "!buddy zoek beroep=jobcoach")
    assert "niemand gevonden" in texts(transport, dm(BOB))[-1] or "niet gelukt" in texts(transport, dm(BOB))[-1]
    assert await offers(app) == []
    # Carol, a job coach, becomes available: Bob's request is tried again, and he hears it.
    await available(app, CAROL)
    [offer] = await offers(app)
    assert offer.candidate_id == CAROL
    retried = texts(transport, dm(BOB))[-1]
    assert retried.startswith("Goed nieuws over je buddy-verzoek") and f"verzoek {offer.request_id}" in retried
    assert f"!buddy accepteer {offer.request_id}" in texts(transport, dm(CAROL))[-1]
    # Saying it again changes nothing: no second offer, no second message.
    before = len(texts(transport, dm(BOB)))
    await available(app, CAROL)
    assert len(await offers(app)) == 1 and len(texts(transport, dm(BOB))) == before


async def test_nobody_available_says_what_to_loosen(app: App, transport: FakeTransport) -> None:
    await profile(app, BOB)
    await profile(app, CAROL, profession="bedrijfsarts")
    await available(app, CAROL)
    await say(app, "!buddy zoek beroep=jobcoach")
    assert "niemand gevonden" in transport.last() and "beroep" in transport.last()
    await say(app, "!buddy zoek ervaring=frisse-blik beroep=bedrijfsarts")
    assert "ervaring" in transport.last()
    await say(app, "!buddy zoek beroep=bedrijfsarts regio=zeeland dag=vr")
    assert "Ik heb een collega gevraagd" in texts(transport, dm(BOB))[-1]
    await say(app, "!buddy zoek")
    assert "Je zoekt al een buddy" in transport.last()
    await say(app, "!buddy annuleer")
    assert "niet meer verder" in transport.last()
    await say(app, "!buddy zoek kleur=blauw")
    assert "De optie `kleur` ken ik hier niet" in transport.last()
    assert "Wel: beroep, ervaring, regio, dag, thema, onderwerp, ander-beroep, opnieuw." in transport.last()


async def test_an_english_member_is_shown_the_english_options(app: App, transport: FakeTransport) -> None:
    await profile(app, BOB)
    await say(app, "!taal en")
    await say(app, "!buddy find colour=blue")
    assert "I do not know the option `colour` here" in transport.last()
    assert "profession, experience, region, day, theme, topic, other-profession, again." in transport.last()
    # Every name either list offers is one the command reads.
    for language in ("nl", "en"):
        shown = app.services.catalogue.plain(language, "buddy.options.find").split(", ")
        assert len(shown) == 8 and set(shown) <= set(find_options(app.services.catalogue))


def test_buddy_words_come_from_the_catalogue_in_both_languages(app: App) -> None:
    catalogue = app.services.catalogue
    options = find_options(catalogue)
    assert options["beroep"] == options["profession"] == "professions"
    assert options["onderwerp"] == options["topic"] == "topic"
    assert [checkin_answer(catalogue, w) for w in ("ja", "yes", "nog niet", "not yet", "klaar", "stop", "huh")] == [
        "yes",
        "yes",
        "not_yet",
        "not_yet",
        "stop",
        "stop",
        None,
    ]


async def test_the_conversation_asks_three_questions(app: App, transport: FakeTransport) -> None:
    await profile(app, BOB)
    await profile(app, CAROL, profession="bedrijfsarts", experience="frisse-blik")
    await available(app, CAROL)
    await say(app, "!buddy zoek", room="!welcome")
    assert "privébericht" in texts(transport, "!welcome")[-1]
    assert "Wat voor buddy zoek je?" in texts(transport, dm(BOB))[-1]
    # The research is named, not just "the research".
    assert "Jong geleerd, oud geleerd" in texts(transport, dm(BOB))[-1]
    await say(app, "frisse blik")
    assert "Uit welk beroep" in transport.last()
    await say(app, "ander beroep")
    assert "Waarover wil je sparren?" in transport.last()
    await say(app, "Hoe kijken artsen naar een plan van aanpak?")
    assert "Ik heb een collega gevraagd" in texts(transport, dm(BOB))[-1]
    assert "plan van aanpak" in texts(transport, dm(CAROL))[-1]


async def test_erasure_leaves_no_row_and_is_kind_to_the_partner(app: App, transport: FakeTransport) -> None:
    for member in (BOB, CAROL, DAVE):
        await profile(app, member)
    await available(app, CAROL)
    await available(app, BOB, "max=2")
    await say(app, f"!buddy blokkeer {DAVE}", sender=CAROL)
    await say(app, "!buddy zoek regio=utrecht")
    offer = (await offers(app))[-1]
    assert offer.candidate_id == CAROL
    await say(app, f"!buddy accepteer {offer.request_id}", sender=CAROL)
    await say(app, "!buddy checkin ja")
    exported = await app.services.privacy.export_all(BOB)
    assert exported["buddy"]["pairs"][0]["partner"] == CAROL
    assert set(exported["buddy"]) == {"availability", "requests", "pairs", "checkins"}
    assert exported["buddy"]["checkins"][0]["answer"] == "yes"
    assert exported["buddy"]["availability"]["max_pairs"] == 2
    carol = (await app.services.privacy.export_all(CAROL))["buddy"]
    assert carol["blocked"] == [DAVE] and carol["asked_to_be_buddy"][0]["status"] == "accepted"
    assert carol["pairs"][0]["partner"] == BOB and carol["pairs"][0]["ended_at"] is None
    # Dave looks for a buddy; carol blocked him, so bob is asked. Then bob leaves.
    await say(app, "!buddy zoek regio=utrecht", sender=DAVE)
    assert (await offers(app))[-1].candidate_id == BOB
    await say(app, "!vergeet-mij")
    await say(app, "ja")
    assert await rows_mentioning(app.services.db, BOB) == []
    assert "de community heeft verlaten" in texts(transport, dm(CAROL))[-1]
    # Dave's request moved on; nobody else fits, so he hears so (without names).
    assert "het is nu niet gelukt" in texts(transport, dm(DAVE))[-1]
    await say(app, "!buddy status", sender=CAROL)
    assert "een oud-lid" in transport.last() and "afgerond" in transport.last()
