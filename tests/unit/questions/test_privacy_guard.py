"""A question goes to a public room: one with personal data is refused, masked, and
nothing is kept or posted."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.app import App
from commands.questions.models import Question
from tests.fakes import FakeTransport
from tests.unit.questions.test_feature import QROOM, app, members, say, texts

__all__ = ["app"]  # the fixture, shared with the feature's tests


async def questions_kept(app: App) -> int:
    async with app.services.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Question)) or 0)


async def test_a_question_with_a_bsn_phone_or_email_is_refused_and_nothing_is_posted(
    app: App, transport: FakeTransport
) -> None:
    await members(app)
    cases = {
        "Mijn cliënt met BSN 111222333 heeft een FML nodig, wie helpt?": "een BSN-achtig nummer 11•••••33",
        "Wie belt deze werknemer terug op 06-12345678 over zijn FML?": "een telefoonnummer 06••••••78",
        "Kan iemand mailen met jan.jansen@example.nl over een FML?": "een e-mailadres j•••@•••.nl",
    }
    for question, masked in cases.items():
        await say(app, f"!vraag BA {question}", room="!welcome")
        refusal = texts(transport, "!welcome")[-1]
        assert "persoonsgegevens" in refusal and masked in refusal
        assert "111222333" not in refusal and "12345678" not in refusal and "jan.jansen" not in refusal
    assert texts(transport, QROOM) == []
    assert await questions_kept(app) == 0

    # The same question without the number goes through.
    await say(app, "!vraag BA Hoe gaan jullie om met een FML bij wisselende klachten?", room="!welcome")
    assert len(texts(transport, QROOM)) == 1 and await questions_kept(app) == 1


async def test_the_refusal_speaks_the_members_language(app: App, transport: FakeTransport) -> None:
    await members(app)
    await say(app, "!taal en")
    await say(app, "!vraag BA Who can call back 06-12345678 about an FML question?")
    refusal = transport.last()
    assert "personal data" in refusal and "a phone number 06••••••78" in refusal
    assert texts(transport, QROOM) == [] and await questions_kept(app) == 0
