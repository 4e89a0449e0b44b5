"""A buddy request's topic is shown to the members offered as buddy: one with personal
data is refused, masked, and no request is made (on one line or in the conversation)."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.app import App
from bot.storage.models import Conversation
from commands.buddy.models import BuddyOffer, BuddyRequest
from tests.fakes import BOB, FakeTransport
from tests.unit.buddy.test_feature import CAROL, available, dm, profile, say, texts


async def requests_kept(app: App) -> int:
    async with app.services.db.session() as session:
        made = await session.scalar(select(func.count()).select_from(BuddyRequest))
        offered = await session.scalar(select(func.count()).select_from(BuddyOffer))
        return int(made or 0) + int(offered or 0)


async def test_a_topic_with_a_bsn_phone_or_email_is_refused_and_no_one_is_asked(
    app: App, transport: FakeTransport
) -> None:
    await profile(app, BOB)
    await profile(app, CAROL, profession="bedrijfsarts")
    await available(app, CAROL)
    before = len(texts(transport, dm(CAROL)))
    cases = {
        "dossier van BSN 111222333": "een BSN-achtig nummer 11•••••33",
        "bel werkgever 06-12345678": "een telefoonnummer 06••••••78",
        "mail van jan.jansen@example.nl": "een e-mailadres j•••@•••.nl",
    }
    for topic, masked in cases.items():
        await say(app, f'!buddy zoek onderwerp="{topic}"', room="!welcome")
        refusal = texts(transport, "!welcome")[-1]
        assert "persoonsgegevens" in refusal and masked in refusal
        assert "111222333" not in refusal and "12345678" not in refusal and "jan.jansen" not in refusal
    assert await requests_kept(app) == 0
    assert len(texts(transport, dm(CAROL))) == before


async def test_the_conversation_asks_for_the_topic_again(app: App, transport: FakeTransport) -> None:
    await profile(app, BOB)
    await profile(app, CAROL, profession="bedrijfsarts", experience="frisse-blik")
    await available(app, CAROL)
    before = len(texts(transport, dm(CAROL)))
    await say(app, "!buddy zoek")
    await say(app, "frisse blik")
    await say(app, "ander beroep")
    assert "Waarover wil je sparren?" in transport.last()
    await say(app, "Hoe help ik mevrouw Jansen, tel. 06-12345678?")
    refusal = texts(transport, dm(BOB))[-2]
    assert "een telefoonnummer 06••••••78" in refusal and "een naam Ja••en" in refusal
    assert "Waarover wil je sparren?" in transport.last()  # asked again
    async with app.services.db.session() as session:
        state = await session.get(Conversation, BOB)
    assert state is not None and "Jansen" not in str(state.answers) and "12345678" not in str(state.answers)
    assert await requests_kept(app) == 0 and len(texts(transport, dm(CAROL))) == before

    await say(app, "Hoe kijken artsen naar een plan van aanpak?")
    assert "Ik heb een collega gevraagd" in texts(transport, dm(BOB))[-1]
    assert "plan van aanpak" in texts(transport, dm(CAROL))[-1]
