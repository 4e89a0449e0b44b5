"""Introductions as a member meets them, through the real router and a real database
file; only the chat network is a recording fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App
from bot.clock import FakeClock
from bot.ids import EventId, RoomId, UserId
from bot.storage.models import Conversation
from bot.transport import MemberJoined
from commands.digest.store import DigestStore
from commands.introductions.directory import DirectoryQuery
from commands.introductions.feature import SPOTLIGHT_JOB, Introductions
from commands.introductions.fields import FIELDS
from commands.introductions.models import Profile, WelcomeMarker
from tests.fakes import ALICE, BOB, FakeTransport, make_config, message, quick_app
from tests.privacy_scan import rows_mentioning

pytestmark = pytest.mark.both_databases

CAROL = UserId("@carol:localhost")
DAVE = UserId("@dave:localhost")


@pytest.fixture
async def app(tmp_path: Path, clock: FakeClock, db_url: str) -> AsyncIterator[App]:
    """The shared app, with flood control opened wide: these members answer quickly."""
    built = await quick_app(tmp_path, clock, db_url, {"welcome": "!welcome", "events": "!events", "theme:buikpijndossiers": "!buikpijn"})
    yield built
    await built.stop()


DM_BOB = "!dm-bob"
ONE_LINE = (
    "!intro beroep=arbeidsdeskundige ervaring=ervaren regio=utrecht werkdagen=ma,di,do zoekt=netwerk,buddy"
)


def feature(app: App) -> Introductions:
    found = next(f for f in app.features if isinstance(f, Introductions))
    return found


async def say(app: App, text: str, *, sender: UserId = BOB, room: str | None = None) -> None:
    dm = f"!dm-{sender.strip('@').split(':')[0]}"
    target = room or dm
    await app.router.dispatch(message(text, sender=sender, room=target, is_direct=target.startswith("!dm-")))


def texts(transport: FakeTransport, room: str) -> list[str]:
    return [m.plain for m in transport.sent if m.room_id == room]


async def join(app: App, user: UserId, room: str = "!welcome", event: str | None = None) -> None:
    await app.router.dispatch(
        MemberJoined(
            event_id=EventId(event or f"$join-{user}-{room}"),
            room_id=RoomId(room),
            user_id=user,
            timestamp=datetime.now(UTC),
        )
    )
    await app.services.outbox.deliver_due()


async def introduce(app: App, user: UserId, options: str) -> None:
    """A member introduces themselves in one line, consents and (unless the line says
    `vindbaar=`) says yes to being findable."""
    await say(app, f"!intro {options}", sender=user)
    await say(app, "ja", sender=user)
    if "vindbaar=" not in options:
        await say(app, "ja", sender=user)


# -- onboarding --------------------------------------------------------------------


async def test_first_join_sends_one_welcome_dm_with_the_consent_question(
    app: App, transport: FakeTransport
) -> None:
    await join(app, BOB)
    welcome = texts(transport, DM_BOB)
    assert len(welcome) == 1
    assert "Welkom bij **Kennisbrug**" in welcome[0]
    assert "!mijngegevens" in welcome[0] and "!vergeet-mij" in welcome[0]
    assert "Mag ik bewaren" in welcome[0]
    # Joining more rooms, the same join again, and a feature rebuilt after a restart: no second welcome.
    await join(app, BOB, "!events")
    await join(app, BOB, "!buikpijn")
    assert len(texts(transport, DM_BOB)) == 1
    # Nothing personal is stored yet; the marker does not name the member.
    async with app.services.db.session() as session:
        assert await session.get(Profile, BOB) is None
        markers = list((await session.scalars(select(WelcomeMarker.marker))).all())
    assert markers and all("bob" not in m for m in markers)


async def test_no_welcome_for_the_bot_itself_or_outside_the_community(
    app: App, transport: FakeTransport
) -> None:
    await join(app, app.services.transport.own_user_id)
    await join(app, CAROL, "!somewhere-else")
    assert transport.sent == []


async def test_welcome_conversation_consent_yes_walks_through_the_profile(
    app: App, transport: FakeTransport
) -> None:
    await join(app, BOB)
    for answer in ("ja", "bedrijfsarts", "nieuw"):
        await say(app, answer)
    await say(app, "heel lang")  # not a number: explained, asked again
    assert "kan ik niet lezen als aantal jaren" in texts(transport, DM_BOB)[-2]
    assert "Hoeveel jaar" in texts(transport, DM_BOB)[-1]
    await say(app, "3")
    await say(app, "Utrecht")
    await say(app, "terug")  # back to the region question, which shows the answer so far
    assert "Nu: **Utrecht**" in transport.last()
    await say(app, "ok")  # keeps Utrecht
    await say(app, "overslaan")  # setting
    await say(app, "ma, di en do")  # work days
    await say(app, "di")  # meet days
    await say(app, "netwerk, 6")  # goals: by word and by number
    await say(app, "1")  # themes
    assert "Met welke beroepen" in transport.last()
    await say(app, "AD en jobcoach")  # professions to meet: by abbreviation and by name
    await say(app, "Bedrijfsarts in een regionale arbodienst, vooral mkb.")
    await say(app, "Ik kijk eerst naar wat iemand nog wel kan.")
    await say(app, "ja")  # listed
    await say(app, "ja")  # spotlight
    assert "overzicht" in transport.last()  # then the digest, answered by number
    await say(app, "1")
    assert "accreditatiepunten" in transport.last()  # last: registration numbers (optional)
    await say(app, "nee")
    async with app.services.db.session() as session:
        row = await session.get(Profile, BOB)
        assert await session.get(Conversation, BOB) is None
    assert row is not None
    assert (row.profession, row.experience, row.years, row.region, row.setting) == (
        "bedrijfsarts",
        "frisse-blik",
        3,
        "utrecht",
        None,
    )
    assert row.work_days == ["ma", "di", "do"] and row.meet_days == ["di"]
    assert row.goals == ["netwerk", "buddy"] and row.themes == ["buikpijndossiers"]
    assert row.meet_professions == ["arbeidsdeskundige", "jobcoach"]
    assert row.listed and row.spotlight
    card = texts(transport, "!welcome")
    assert len(card) == 1 and "Bedrijfsarts" in card[0] and "@bob:localhost" in card[0]
    assert "Utrecht" in card[0] and "Mijn netwerk uitbreiden" in card[0]
    assert "beroepen om te ontmoeten:** Arbeidsdeskundige, Jobcoach" in card[0]
    assert "Dank je wel" in texts(transport, DM_BOB)[-1]
    assert "Je ontvangt het overzicht elke maandag" in texts(transport, DM_BOB)[-1]
    digest = await DigestStore(app.services.db, app.services.clock).get(BOB)
    assert digest is not None and digest.enabled and digest.rhythm == "weekly"
    assert row.card_event_id is not None


@pytest.mark.parametrize("answer", ["nee", "Nee", "2", "no"])
async def test_saying_no_to_the_digest_at_onboarding_subscribes_nobody(
    app: App, transport: FakeTransport, answer: str
) -> None:
    await join(app, BOB)
    for given in ("ja", "jobcoach", "ervaren", "overslaan", "limburg", "overslaan", "overslaan", "overslaan"):
        await say(app, given)
    # goals, themes, professions to meet, about, weighing, listed
    for given in ("netwerk", "overslaan", "overslaan", "overslaan", "overslaan", "nee"):
        await say(app, given)
    assert "overzicht" in transport.last()
    await say(app, answer)
    assert "accreditatiepunten" in transport.last()
    await say(app, "nee")
    assert "Je ontvangt geen overzicht" in transport.last()
    assert await DigestStore(app.services.db, app.services.clock).get(BOB) is None
    record = await feature(app).store.get(BOB)
    assert record is not None and record.profession == "jobcoach" and not record.listed


async def test_the_digest_question_is_asked_at_onboarding_only(app: App, transport: FakeTransport) -> None:
    """One-line introductions are not asked (the thanks says how), nor a member who
    edits their profile."""
    await say(app, ONE_LINE)
    await say(app, "ja")
    await say(app, "nee")  # not findable
    assert "`!digest aan`" in texts(transport, DM_BOB)[-1]
    assert await DigestStore(app.services.db, app.services.clock).get(BOB) is None
    questions = feature(app).flow.questions({"_has_profile": True, "consent": "yes"})
    assert "_offer_digest" not in [q.name for q in questions]
    offered = [q.name for q in feature(app).flow.questions({})][-2:]
    assert offered == ["_offer_digest", "_offer_accreditation"]


async def test_consent_no_stores_nothing(app: App, transport: FakeTransport) -> None:
    await join(app, BOB)
    await say(app, "nee")
    assert "bewaar ik niets" in transport.last()
    assert await rows_mentioning(app.services.db, BOB) == []


async def test_stop_halfway_keeps_what_was_given(app: App, transport: FakeTransport) -> None:
    await say(app, "!intro")
    for answer in ("ja", "jobcoach", "ervaren", "overslaan", "limburg", "stop"):
        await say(app, answer)
    assert "heb ik bewaard" in transport.last()
    record = await feature(app).store.get(BOB)
    assert record is not None and record.profession == "jobcoach" and record.region == "limburg"
    assert not record.listed  # never asked, so not listed and no card
    assert texts(transport, "!welcome") == []
    # Introducing again starts from the answers given, consent is not asked twice.
    await say(app, "!intro")
    assert "Jobcoach" in transport.last() and "Nog ongeveer" in transport.last()
    assert "Mag ik bewaren" not in transport.last()


async def test_intro_in_a_room_continues_in_the_dm(app: App, transport: FakeTransport) -> None:
    await say(app, "!intro", room="!welcome")
    assert "privébericht" in texts(transport, "!welcome")[-1]
    assert "Mag ik bewaren" in texts(transport, DM_BOB)[-1]


# -- one line ------------------------------------------------------------------------


async def test_one_line_intro_asks_consent_then_saves_and_posts_the_card(
    app: App, transport: FakeTransport
) -> None:
    await say(app, ONE_LINE, room="!welcome")
    assert "Mag ik bewaren" in texts(transport, DM_BOB)[-1]
    async with app.services.db.session() as session:
        assert await session.get(Profile, BOB) is None  # nothing before consent
    await say(app, "ja")
    # Being findable is asked, never assumed.
    assert "Mogen andere leden je vinden?" in texts(transport, DM_BOB)[-1]
    assert not any("Arbeidsdeskundige" in text for text in texts(transport, "!welcome"))  # no card yet
    await say(app, "ja")
    record = await feature(app).store.get(BOB)
    assert record is not None
    assert (record.profession, record.experience, record.region) == (
        "arbeidsdeskundige",
        "ervaren",
        "utrecht",
    )
    assert record.work_days == ("ma", "di", "do") and record.goals == ("netwerk", "buddy") and record.listed
    assert "Arbeidsdeskundige" in texts(transport, "!welcome")[-1]


async def test_one_line_intro_without_yes_to_findable_is_not_listed(
    app: App, transport: FakeTransport
) -> None:
    await say(app, ONE_LINE)
    await say(app, "ja")
    await say(app, "nee")
    record = await feature(app).store.get(BOB)
    assert record is not None and not record.listed
    assert texts(transport, "!welcome") == []  # no card
    assert "`!profiel zet vindbaar ja`" in texts(transport, DM_BOB)[-1]
    # A line that says it asks nothing more than consent.
    await say(app, "!intro beroep=jobcoach ervaring=ervaren regio=utrecht vindbaar=nee", sender=CAROL)
    await say(app, "ja", sender=CAROL)
    carol = await feature(app).store.get(CAROL)
    assert carol is not None and not carol.listed
    assert "Mogen andere leden" not in texts(transport, "!dm-carol")[-1]


async def test_one_line_in_english_keys(app: App) -> None:
    await introduce(app, BOB, "profession=labour-expert experience=deep region=nationwide lookingfor=law")
    record = await feature(app).store.get(BOB)
    assert record is not None
    assert (record.profession, record.experience, record.region, record.goals) == (
        "arbeidsdeskundige",
        "diepgaand",
        "landelijk",
        ("wetgeving",),
    )


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("beroep=bakker ervaring=ervaren regio=utrecht", "Het beroep `bakker` ken ik niet"),
        ("beroep=BA ervaring=ervaren regio=mars", "De regio `mars` ken ik niet"),
        ("beroep=BA ervaring=ervaren regio=utrecht werkdagen=zo", "`zo` herken ik niet als werkdag"),
        ("beroep=BA", "heb ik ook nog nodig: ervaring, regio"),
        ("beroep=BA ervaring=ervaren regio=utrecht kleur=blauw", "Deze velden ken ik niet: kleur"),
        ("beroep=BA ervaring=ervaren regio=utrecht overmij=" + "x" * 501, "hoogstens 500"),
        # Counted as typed, the closing space inside the quotes too.
        ('beroep=BA ervaring=ervaren regio=utrecht overmij="' + "x" * 785 + ' "', "Dat is 786 tekens"),
    ],
)
async def test_one_line_bad_input_is_explained(
    app: App, transport: FakeTransport, options: str, expected: str
) -> None:
    await say(app, f"!intro {options}", room="!welcome")
    assert expected in transport.last()
    async with app.services.db.session() as session:
        assert await session.get(Profile, BOB) is None


# -- profiles ----------------------------------------------------------------------


async def test_profile_own_other_and_unlisted(app: App, transport: FakeTransport) -> None:
    await say(app, "!profiel")
    assert "nog geen profiel" in transport.last()
    await introduce(app, BOB, "beroep=BA ervaring=ervaren regio=utrecht overmij=Hallo!")
    await introduce(app, CAROL, "beroep=VA ervaring=ervaren regio=limburg vindbaar=nee")
    await say(app, "!profiel")
    assert "Je profiel" in transport.last() and "Hallo!" in transport.last()
    await say(app, "!profiel @bob:localhost", sender=CAROL)
    assert "Bedrijfsarts" in transport.last() and "vindbaar" not in transport.last()
    await say(app, "!profiel @carol:localhost")
    assert "geen vindbaar profiel" in transport.last() and "Verzekeringsarts" not in transport.last()


async def test_profile_set_changes_one_field_and_unlisting_removes_the_card(
    app: App, transport: FakeTransport
) -> None:
    await introduce(app, BOB, "beroep=BA ervaring=ervaren regio=utrecht")
    await say(app, "!profiel zet regio Noord-Brabant")
    assert "Noord-Brabant" in transport.last()
    assert (await feature(app).store.get(BOB)).region == "noord-brabant"  # type: ignore[union-attr]
    await say(app, "!profile set workdays mon,fri")
    assert (await feature(app).store.get(BOB)).work_days == ("ma", "vr")  # type: ignore[union-attr]
    await say(app, "!profiel zet kleur blauw")
    assert "Het veld `kleur` ken ik niet" in transport.last()
    await say(app, "!profiel zet spotlight ja")
    assert "afwegen" in transport.last()
    card_event = (await feature(app).store.card_of(BOB))[1]  # type: ignore[index]
    await say(app, "!profiel zet vindbaar nee")
    assert transport.redactions and transport.redactions[-1][1] == card_event
    assert feature(app).directory.get(BOB) is None
    assert await feature(app).store.card_of(BOB) is None


# -- whom a member would like to meet ------------------------------------------------


async def test_professions_to_meet_in_one_line_on_the_card_and_in_the_profile(
    app: App, transport: FakeTransport
) -> None:
    await introduce(app, BOB, "beroep=BA ervaring=ervaren regio=utrecht ontmoeten=AD,jobcoach")
    record = await feature(app).store.get(BOB)
    assert record is not None and record.meet_professions == ("arbeidsdeskundige", "jobcoach")
    assert "**beroepen om te ontmoeten:** Arbeidsdeskundige, Jobcoach" in texts(transport, "!welcome")[-1]
    await say(app, "!taal en")
    await say(app, "!profile")
    assert "**professions to meet:** Labour expert, Job coach" in transport.last()


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("!profiel zet ontmoeten verzekeringsarts en casemanager", ("verzekeringsarts", "casemanager")),
        ("!profiel zet wil-ontmoeten VA/CM/VA", ("verzekeringsarts", "casemanager")),
        ("!profile set meetprofessions insurance physician", ("verzekeringsarts",)),
        ("!profiel zet ontmoeten geen", ()),
        (
            "!profiel zet ontmoeten Alle",
            (
                "bedrijfsarts",
                "verzekeringsarts",
                "arboarts",
                "arbeidsdeskundige",
                "re-integratieprofessional",
                "jobcoach",
                "hr-professional",
                "casemanager",
                "ervaringsdeskundige",
                "anders",
            ),
        ),
    ],
)
async def test_profile_set_chooses_or_clears_the_professions_to_meet(
    app: App, transport: FakeTransport, command: str, expected: tuple[str, ...]
) -> None:
    await introduce(app, BOB, "beroep=BA ervaring=ervaren regio=utrecht ontmoeten=jobcoach")
    await say(app, command)
    assert "Opgeslagen" in transport.last() or "Saved" in transport.last()
    assert (await feature(app).store.get(BOB)).meet_professions == expected  # type: ignore[union-attr]
    assert ("beroepen om te ontmoeten:" in transport.last()) == bool(expected)


async def test_an_unknown_profession_to_meet_is_explained_in_the_members_language(
    app: App, transport: FakeTransport
) -> None:
    await introduce(app, BOB, "beroep=BA ervaring=ervaren regio=utrecht ontmoeten=jobcoach")
    await say(app, "!profiel zet ontmoeten jobcoach, bakker")
    assert "Het beroep `bakker` ken ik niet" in transport.last()
    assert "arbeidsdeskundige" in transport.last() and "`alle`" in transport.last()
    await say(app, "!taal en")
    await say(app, "!profile set meetprofessions astronaut")
    assert "I do not know the profession `astronaut`" in transport.last() and "`none`" in transport.last()
    assert (await feature(app).store.get(BOB)).meet_professions == ("jobcoach",)  # type: ignore[union-attr]
    await say(app, "!intro beroep=BA ervaring=ervaren regio=utrecht ontmoeten=bakker", sender=CAROL)
    assert "Het beroep `bakker` ken ik niet" in transport.last()
    assert await feature(app).store.get(CAROL) is None


@pytest.mark.parametrize("language", ["nl", "en"])
async def test_an_unknown_profession_lists_every_profession_of_the_content_file(
    app: App, transport: FakeTransport, language: str
) -> None:
    # The list comes from config/professions.yaml, so it cannot drift from it.
    await say(app, f"!taal {language}")
    await say(app, "!intro beroep=bakker ervaring=ervaren regio=utrecht")
    single = transport.last()
    await say(app, f"!taal {language}", sender=CAROL)
    await introduce(app, CAROL, "beroep=BA ervaring=ervaren regio=utrecht")
    await say(app, "!profiel zet ontmoeten bakker", sender=CAROL)
    several = transport.last()
    professions = app.services.professions.items
    assert len(professions) >= 9
    for text in (single, several):
        for profession in professions:
            assert profession.in_sentence(language) in text, (profession.key, text)
    joiner = {"nl": " of ", "en": " or "}[language]
    last = professions[-1].in_sentence(language)
    assert f"{joiner}{last} (" in single
    assert {"nl": " en ", "en": " and "}[language] + last in several


async def test_the_saved_line_reads_right_for_every_field(app: App, transport: FakeTransport) -> None:
    await introduce(app, BOB, "beroep=BA ervaring=ervaren regio=utrecht")
    values = {
        "profession": "jobcoach",
        "experience": "ervaren",
        "years": "12",
        "region": "utrecht",
        "setting": "arbodienst",
        "work_days": "ma,di",
        "meet_days": "do",
        "goals": "netwerk",
        "themes": "buikpijndossiers",
        "meet_professions": "AD",
        "about": "Ik werk graag samen.",
        "weighing": "Ik weeg eerst wat de werknemer kan.",
        "listed": "ja",
        "spotlight": "ja",
    }
    assert set(values) == {f.attribute for f in FIELDS}
    for language in ("nl", "en"):
        await say(app, f"!taal {language}")
        for field in FIELDS:
            await say(app, f"!profiel zet {field.names[0]} {values[field.attribute]}")
            label = app.services.catalogue.plain(language, field.label_key)
            first = transport.last().splitlines()[0]
            # "Opgeslagen: je zoekt is bijgewerkt" read badly for most labels.
            expected = {"nl": "Opgeslagen. Bijgewerkt:", "en": "Saved. Updated:"}[language]
            assert first == f"{expected} **{label}**"


async def test_find_who_wants_to_meet_a_profession(app: App, transport: FakeTransport) -> None:
    await introduce(app, BOB, "beroep=BA ervaring=ervaren regio=utrecht ontmoeten=AD")
    await introduce(app, CAROL, "beroep=jobcoach ervaring=ervaren regio=limburg ontmoeten=AD,VA")
    await introduce(app, ALICE, "beroep=AD ervaring=ervaren regio=utrecht")
    await say(app, "!zoek ontmoet=arbeidsdeskundige", sender=DAVE)
    assert "2 gevonden" in transport.last() and "@alice" not in transport.last()
    await say(app, "!zoek ontmoet=VA")
    assert "1 gevonden" in transport.last() and "@carol" in transport.last()
    await say(app, "!find meets=AD region=utrecht", sender=DAVE)
    assert "1 gevonden" in transport.last() and "@bob" in transport.last()
    await say(app, "!zoek ontmoet=jobcoach")
    assert "niemand gevonden" in transport.last()
    await say(app, "!zoek ontmoet=VA regio=utrecht")
    # Without the region Carol, without the meeting filter Alice (Bob asks: not himself).
    assert "Zonder het filter op regio vind ik er 1" in transport.last()
    await say(app, "!zoek ontmoet=bakker")
    assert "Het beroep `bakker` ken ik niet" in transport.last()


# -- the directory ------------------------------------------------------------------


async def _community(app: App) -> None:
    await introduce(
        app, BOB, "beroep=bedrijfsarts ervaring=ervaren regio=utrecht werkdagen=di afspreken=di zoekt=netwerk"
    )
    await introduce(
        app,
        CAROL,
        "beroep=arbeidsdeskundige ervaring=frisse-blik regio=limburg werkdagen=ma zoekt=buddy themas=1",
    )
    await introduce(
        app,
        ALICE,
        "beroep=bedrijfsarts ervaring=diepgaand regio=landelijk werkdagen=do overmij=FML-specialist",
    )


@pytest.mark.parametrize(
    ("query", "found", "not_found"),
    [
        ("beroep=bedrijfsarts", ["@bob", "@alice"], ["@carol"]),
        ("regio=utrecht", ["@bob", "@alice"], ["@carol"]),  # nationwide counts for every region
        ("ervaring=frisse-blik", ["@carol"], ["@bob", "@alice"]),
        ("dag=di", ["@bob"], ["@carol", "@alice"]),
        ("thema=buikpijndossiers", ["@carol"], ["@bob", "@alice"]),
        ("zoekt=buddy", ["@carol"], ["@bob", "@alice"]),
        ("fml", ["@alice"], ["@bob", "@carol"]),
        ("beroep=bedrijfsarts regio=utrecht dag=di", ["@bob"], ["@carol", "@alice"]),
    ],
)
async def test_find_by_each_filter(
    app: App, transport: FakeTransport, query: str, found: list[str], not_found: list[str]
) -> None:
    await _community(app)
    await say(app, f"!zoek {query}", room="!welcome", sender=DAVE)
    result = transport.last()
    assert f"{len(found)} gevonden" in result
    for name in found:
        assert name in result
    for name in not_found:
        assert name not in result


async def test_find_does_not_list_the_asker(app: App, transport: FakeTransport) -> None:
    await _community(app)
    await say(app, "!zoek beroep=bedrijfsarts")
    assert "1 gevonden" in transport.last() and "@alice" in transport.last()
    assert "@bob" not in transport.last()
    # Without filters too: everyone but the asker, on every page.
    await say(app, "!zoek", sender=CAROL)
    assert "2 gevonden" in transport.last() and "@carol" not in transport.last()
    found = feature(app).directory.search(DirectoryQuery(), page_size=1, excluding=ALICE)
    assert found.total == 2
    directory = feature(app).directory
    pages = [directory.search(DirectoryQuery(), page=p, page_size=1, excluding=ALICE) for p in (1, 2)]
    assert sorted(r.user_id for page in pages for r in page.results) == sorted([BOB, CAROL])


async def test_find_ranks_exact_region_before_nationwide(app: App, transport: FakeTransport) -> None:
    await _community(app)
    await say(app, "!zoek regio=utrecht", sender=DAVE)
    result = transport.last()
    assert result.index("@bob") < result.index("@alice")


async def test_find_nothing_suggests_which_filter_to_drop(app: App, transport: FakeTransport) -> None:
    await _community(app)
    await say(app, "!zoek beroep=jobcoach regio=utrecht")
    assert "niemand gevonden" in transport.last()
    await say(app, "!zoek beroep=bedrijfsarts regio=limburg dag=ma")
    assert "Zonder het filter op" in transport.last()
    await say(app, "!zoek kleur=rood")
    assert "Op `kleur` kan ik niet zoeken" in transport.last()
    assert transport.last().endswith("beroep, regio, ervaring, dag, thema, zoekt, ontmoet, pagina.")
    # The option names of the member's language; either language's names work.
    await say(app, "!taal en")
    await say(app, "!find colour=red")
    assert transport.last().endswith("profession, region, experience, day, theme, lookingfor, meets, page.")
    await say(app, "!find professions=jobcoach province=utrecht")
    assert transport.last().startswith("I found nobody who fits")  # both options known
    await say(app, "!find beroepen=jobcoach themes=buikpijndossiers")
    assert "I cannot search" not in transport.last()


async def test_find_asks_did_you_mean_for_a_slip(app: App, transport: FakeTransport) -> None:
    await _community(app)
    await say(app, "!zoek regio=utrechtt")
    assert transport.last() == "`utrechtt` ken ik niet. Bedoelde je `utrecht`?"
    await say(app, "!zoek beroep=bedrijfsart")
    assert transport.last() == "`bedrijfsart` ken ik niet. Bedoelde je `bedrijfsarts`?"
    await say(app, "!zoek beroep=bedrijfsarts,jobcoch")
    assert "Bedoelde je `jobcoach`?" in transport.last()
    # Nothing close: the list of what is known, no guess.
    await say(app, "!zoek regio=mars")
    assert "Bedoelde je" not in transport.last() and "De regio `mars` ken ik niet" in transport.last()
    await say(app, "!taal en")
    await say(app, '!find profession="insurance physican"')
    assert transport.last() == "I don't know `insurance physican`. Did you mean `insurance physician`?"


async def test_find_pages_by_ten(app: App, transport: FakeTransport) -> None:
    for i in range(23):
        await introduce(
            app, UserId(f"@lid{i:02d}:localhost"), "beroep=jobcoach ervaring=ervaren regio=zeeland"
        )
    await say(app, "!zoek beroep=jobcoach")
    first = transport.last()
    assert "23 gevonden" in first and "pagina 1 van 3" in first and "pagina=2" in first
    assert first.count("](https://matrix.to") == 10
    await say(app, "!zoek beroep=jobcoach pagina=3")
    assert transport.last().count("](https://matrix.to") == 3
    await say(app, "!zoek beroep=jobcoach pagina=x")
    assert "geen paginanummer" in transport.last()


async def test_members_counts_professions_and_regions(app: App, transport: FakeTransport) -> None:
    await say(app, "!leden")
    assert "nog niemand" in transport.last()
    await _community(app)
    await say(app, "!taal en")
    await say(app, "!members")
    report = transport.last()
    assert "3 listed members" in report
    assert "Occupational physician: 2" in report and "Labour expert: 1" in report
    assert "Nationwide: 1" in report
    assert "Not at the table yet" in report and "Job coach" in report


# -- the spotlight ------------------------------------------------------------------


async def test_spotlight_rotates_professions_and_posts_only_opted_in(
    app: App, transport: FakeTransport, clock: FakeClock
) -> None:
    await introduce(app, BOB, "beroep=BA ervaring=ervaren regio=utrecht afwegen=Eerst_de_mens spotlight=ja")
    await introduce(
        app, CAROL, "beroep=AD ervaring=ervaren regio=utrecht afwegen=Eerst_het_werk spotlight=ja"
    )
    await introduce(app, ALICE, "beroep=BA ervaring=ervaren regio=utrecht afwegen=Niet_tonen spotlight=nee")
    intro = feature(app)
    shown = []
    for week in range(4):
        before = len(texts(transport, "!welcome"))
        await intro._run_spotlight(SPOTLIGHT_JOB, {"occurrence": f"week{week}"})
        await app.services.outbox.deliver_due()
        posts = texts(transport, "!welcome")[before:]
        assert len(posts) == 1
        shown.append("bob" if "Eerst_de_mens" in posts[0] else "carol")
        assert "Niet_tonen" not in posts[0]
    assert shown[0] != shown[1] and shown[2] != shown[3] and set(shown) == {"bob", "carol"}
    # The same occurrence again (a rerun) posts nothing new.
    before = len(transport.sent)
    await intro._run_spotlight(SPOTLIGHT_JOB, {"occurrence": "week3"})
    await app.services.outbox.deliver_due()
    assert len(transport.sent) == before


async def test_spotlight_with_nobody_opted_in_posts_nothing(app: App, transport: FakeTransport) -> None:
    await introduce(app, BOB, "beroep=BA ervaring=ervaren regio=utrecht")
    before = len(transport.sent)
    await feature(app)._run_spotlight(SPOTLIGHT_JOB, {"occurrence": "x"})
    await app.services.outbox.deliver_due()
    assert len(transport.sent) == before


# -- privacy -------------------------------------------------------------------------


async def test_export_holds_the_profile_and_erase_leaves_no_row(app: App, transport: FakeTransport) -> None:
    await join(app, BOB)
    await say(app, "nee")
    await introduce(
        app,
        BOB,
        "beroep=BA ervaring=ervaren regio=utrecht overmij=Mijn_tekst afwegen=Zo spotlight=ja ontmoeten=JC",
    )
    await feature(app)._run_spotlight(SPOTLIGHT_JOB, {"occurrence": "now"})
    exported = await app.services.privacy.export_all(BOB)
    assert exported["introductions"]["profile"]["about"] == "Mijn_tekst"
    assert exported["introductions"]["profile"]["meet_professions"] == ["jobcoach"]
    assert exported["introductions"]["practice_spotlight_shown_at"]
    card_event = (await feature(app).store.card_of(BOB))[1]  # type: ignore[index]
    assert await rows_mentioning(app.services.db, BOB)
    await app.services.privacy.erase_all(BOB)
    assert await rows_mentioning(app.services.db, BOB) == []
    assert any(r[1] == card_event for r in transport.redactions)
    assert feature(app).directory.get(BOB) is None
    # Forgotten, then joining again: still no second welcome.
    await join(app, BOB, "!events", event="$later")
    assert sum("Welkom bij" in t for t in texts(transport, DM_BOB)) == 1


async def test_check_config_reports_a_bad_section(tmp_path: object) -> None:
    from commands.introductions import check_config

    config = make_config(tmp_path, introductions={"spotlight": {"cron": "elke maandag", "room": "kantine"}})  # type: ignore[arg-type]
    problems = check_config(config)
    assert any("spotlight.cron" in p for p in problems) and any("kantine" in p for p in problems)
    assert check_config(make_config(tmp_path)) == []  # type: ignore[arg-type]


def test_clock_is_timezone_aware(clock: FakeClock) -> None:
    assert clock.now().tzinfo is not None and clock.now() + timedelta(0) == clock.now()


async def test_spotlight_is_scheduled_mondays_at_ten_and_fires_then(
    app: App, transport: FakeTransport, clock: FakeClock
) -> None:
    from bot.storage.models import RecurringJob

    await introduce(app, BOB, "beroep=BA ervaring=ervaren regio=utrecht afwegen=Eerst_de_mens spotlight=ja")
    await feature(app).start()
    async with app.services.db.session() as session:
        job = await session.get(RecurringJob, SPOTLIGHT_JOB)
    assert job is not None and (job.cron, job.timezone) == ("0 10 * * mon", "Europe/Amsterdam")
    # Tuesday 16 March 2027 10:00 local -> the next Monday 22 March 10:00 CET is 09:00 UTC.
    clock.advance(timedelta(days=5, hours=23, minutes=59))
    assert not await app.services.scheduler._fire_recurring(SPOTLIGHT_JOB)
    clock.advance(timedelta(minutes=2))
    assert await app.services.scheduler._fire_recurring(SPOTLIGHT_JOB)
    await app.services.outbox.deliver_due()
    assert "Eerst_de_mens" in texts(transport, "!welcome")[-1]
    assert not await app.services.scheduler._fire_recurring(SPOTLIGHT_JOB)  # once per occurrence


async def test_the_drop_hint_does_not_count_the_asker(app: App, transport: FakeTransport) -> None:
    # Bob is the only BA; Carol is in Utrecht too. Without the region filter only Bob
    # himself would be found: "vind ik er 1" would send him looking for himself.
    await introduce(app, BOB, "beroep=BA ervaring=ervaren regio=utrecht")
    await introduce(app, CAROL, "beroep=VA ervaring=ervaren regio=utrecht")
    await say(app, "!zoek beroep=BA regio=limburg")
    assert "Zonder het filter" not in transport.last()
    assert "Probeer het met minder filters" in transport.last()
    # Carol asking the same finds Bob without the region filter.
    await say(app, "!zoek beroep=BA regio=limburg", sender=CAROL)
    assert "Zonder het filter op regio vind ik er 1" in transport.last()
