"""A member's own profile texts ("about me", how they weigh decisions) are shown on cards
in the welcome room and in the directory: a text with personal data is refused, masked,
and nothing is kept or posted, on one line, with ``!profiel zet`` or in the conversation."""

from __future__ import annotations

from bot.app import App
from bot.storage.models import Conversation
from tests.fakes import BOB, FakeTransport
from tests.privacy_scan import rows_mentioning
from tests.unit.introductions.test_feature import DM_BOB, app, feature, introduce, join, say, texts

__all__ = ["app"]  # the fixture, shared with the feature's tests

CASES = {
    "Ik werk met BSN 111222333 dossiers": "een BSN-achtig nummer 11•••••33",
    "Bel me op 06-12345678": "een telefoonnummer 06••••••78",
    "Mail me via jan.jansen@example.nl": "een e-mailadres j•••@•••.nl",
}


def refused(text: str, masked: str) -> bool:
    return (
        "persoonsgegevens" in text
        and masked in text
        and not any(raw in text for raw in ("111222333", "12345678", "jan.jansen"))
    )


async def test_an_about_me_with_a_bsn_phone_or_email_is_refused_on_one_line(
    app: App, transport: FakeTransport
) -> None:
    for about, masked in CASES.items():
        await say(app, f'!intro beroep=BA ervaring=ervaren regio=utrecht overmij="{about}"')
        assert refused(transport.last(), masked)
    # Nothing kept: no profile, no conversation holding the answers until consent.
    assert await rows_mentioning(app.services.db, BOB) == []
    assert texts(transport, "!welcome") == []


async def test_profile_set_refuses_personal_data_and_keeps_the_old_text(
    app: App, transport: FakeTransport
) -> None:
    await introduce(app, BOB, "beroep=BA ervaring=ervaren regio=utrecht overmij=Hallo!")
    cards = len(texts(transport, "!welcome"))
    for about, masked in CASES.items():
        await say(app, f"!profiel zet overmij {about}")
        assert refused(transport.last(), masked)
    await say(app, "!profiel zet afweging Ik overleg met dhr. Pietersen, 06-12345678")
    assert "een naam Pi•••••en" in transport.last()
    record = await feature(app).store.get(BOB)
    assert record is not None and record.about == "Hallo!" and record.weighing is None
    assert len(texts(transport, "!welcome")) == cards


async def test_the_conversation_asks_for_about_me_again(app: App, transport: FakeTransport) -> None:
    await join(app, BOB)
    for given in ("ja", "jobcoach", "ervaren", "overslaan", "limburg", "overslaan", "overslaan", "overslaan"):
        await say(app, given)
    for given in ("netwerk", "overslaan", "overslaan"):
        await say(app, given)
    question = transport.last()
    await say(app, "Bereikbaar op 06-12345678")
    assert refused(texts(transport, DM_BOB)[-2], "een telefoonnummer 06••••••78")
    assert transport.last() == question
    async with app.services.db.session() as session:
        state = await session.get(Conversation, BOB)
    assert state is not None and "12345678" not in str(state.answers)
    await say(app, "Jobcoach in Limburg, graag sparren over werkfit-trajecten.")
    assert transport.last() != question
