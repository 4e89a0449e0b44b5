"""The member's digest, through the real router, database and nudge service; only the
chat network is a recording fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App, build_app
from bot.clock import FakeClock
from bot.ids import RoomId, UserId
from bot.storage.models import Nudge
from commands.buddy.store import BuddyStore
from commands.digest.feature import Digest, is_monthly_occurrence
from commands.digest.store import DigestStore
from commands.introductions.store import ProfileStore
from commands.questions.store import QuestionStore
from tests.fakes import FakeTransport, make_config, message
from tests.privacy_scan import rows_mentioning

pytestmark = pytest.mark.both_databases

BA = UserId("@ba:localhost")
AD = UserId("@ad:localhost")
JC = UserId("@jc:localhost")
QROOM = "!questions"
MONDAY = datetime(2027, 3, 22, 7, 30, tzinfo=UTC)  # 08:30 in Amsterdam


@pytest.fixture
async def app(tmp_path: Path, clock: FakeClock, db_url: str) -> AsyncIterator[App]:
    config = make_config(
        tmp_path,
        database={"url": db_url},
        flood={"burst": 10_000, "seconds_per_command": 0.001},
        nudges={"weekly_budget": 10, "quiet_hours": "00:00-00:00", "quiet_weekends": False},
    )
    built = await build_app(config, clock=clock, transport_factory=FakeTransport)
    built.services.rooms.set("welcome", RoomId("!welcome"))
    built.services.rooms.set("questions", RoomId(QROOM))
    profiles = ProfileStore(built.services.db, clock)
    for user, profession in ((BA, "bedrijfsarts"), (AD, "arbeidsdeskundige"), (JC, "jobcoach")):
        await profiles.save(user, {"profession": profession, "listed": True})
    await built.start_features()
    yield built
    await built.stop()


def transport(app: App) -> FakeTransport:
    assert isinstance(app.transport, FakeTransport)
    return app.transport


def digest(app: App) -> Digest:
    return next(f for f in app.features if isinstance(f, Digest))


def dm(user: UserId) -> str:
    return f"!dm-{user.strip('@').split(':')[0]}"


async def say(
    app: App, text: str, sender: UserId, room: str | None = None, thread: str | None = None
) -> None:
    target = room or dm(sender)
    await app.router.dispatch(
        message(text, sender=sender, room=target, is_direct=target.startswith("!dm-"), thread_root=thread)
    )
    await app.services.outbox.deliver_due()


async def ask(app: App, asker: UserId, profession: str, text: str, event: str) -> int:
    store = QuestionStore(app.services.db, app.services.clock)
    number = await store.create(asker, profession, text, f"src{event}")
    await store.set_post(number, QROOM, event)
    return number


async def deliver(app: App) -> None:
    for _ in range(3):
        await app.services.scheduler.run_due()
    await app.services.outbox.deliver_due()


def sent_to(app: App, user: UserId) -> list[str]:
    return [m.plain for m in transport(app).sent if m.room_id == dm(user)]


async def test_opting_in_and_out_and_choosing_the_rhythm(app: App) -> None:
    await say(app, "!digest", BA)
    assert "geen overzicht" in transport(app).last()
    await say(app, "!digest aan", BA)
    assert "elke maandag" in transport(app).last()
    await say(app, "!digest maandelijks", BA)
    assert "eerste maandag" in transport(app).last()
    sub = await DigestStore(app.services.db, app.services.clock).get(BA)
    assert sub is not None and sub.enabled and sub.rhythm == "monthly"
    await say(app, "!digest off", BA)
    sub = await DigestStore(app.services.db, app.services.clock).get(BA)
    assert sub is not None and not sub.enabled


async def test_a_subscriber_gets_one_digest_with_every_section(app: App, clock: FakeClock) -> None:
    await say(app, "!digest aan", BA)
    await ask(app, AD, "bedrijfsarts", "Hoe weeg jij een FML bij wisselende klachten?", "$q1")
    buddy = BuddyStore(app.services.db, clock)
    request, _ = await buddy.create_request(str(JC), {}, None, "$b1")
    offer = await buddy.create_offer(request, str(BA), 3)
    clock.set(MONDAY)
    assert await digest(app).send_all(MONDAY) == 1
    assert await digest(app).send_all(MONDAY) == 0  # the same occurrence plans nothing twice
    await deliver(app)
    texts = [t for t in sent_to(app, BA) if "Je overzicht van" in t]
    assert len(texts) == 1
    body = texts[0]
    assert "Je overzicht van Kennisbrug" in body
    assert "Open vragen aan Bedrijfsarts" in body or "Open vragen aan bedrijfsarts" in body.lower()
    assert "Hoe weeg jij een FML" in body
    assert f"buddy accepteer {offer}" in body
    assert "Nieuwe leden uit andere beroepen" in body  # AD and JC joined this week
    assert body.index("Buddyverzoeken") < body.index("Open vragen")
    async with app.services.db.session() as session:
        nudge = await session.scalar(select(Nudge).where(Nudge.kind == "digest"))
    assert nudge is not None and nudge.status == "sent"


async def test_an_empty_week_sends_nothing(app: App, clock: FakeClock) -> None:
    await say(app, "!digest aan", JC)
    clock.set(MONDAY + timedelta(days=7))  # the new members are older than a week now
    assert await digest(app).send_all(MONDAY + timedelta(days=7)) == 0
    await deliver(app)
    assert sent_to(app, JC)[1:] == []


async def test_a_thread_the_member_took_part_in_is_left_out(app: App, clock: FakeClock) -> None:
    await say(app, "!digest aan", BA)
    await ask(app, AD, "bedrijfsarts", "Hoe weeg jij een FML bij wisselende klachten?", "$q2")
    await say(app, "Bij ons kijken we eerst naar de belastbaarheid.", BA, room=QROOM, thread="$q2")
    clock.set(MONDAY + timedelta(days=7))
    assert await digest(app).send_all(MONDAY + timedelta(days=7)) == 0


async def test_the_preview_comes_at_once_and_says_when_there_is_nothing(app: App) -> None:
    await say(app, "!digest nu", JC)
    assert "Je overzicht (voorbeeld)" in transport(app).last()
    assert "Nieuwe leden" in transport(app).last()
    await ask(app, JC, "arbeidsdeskundige", "Wie kijkt er mee naar een re-integratieplan spoor 2?", "$q3")
    await say(app, "!digest now", AD)
    assert "spoor 2" in transport(app).last()


async def test_monthly_digests_go_on_the_first_monday() -> None:
    assert is_monthly_occurrence(datetime(2027, 3, 1, 7, 30, tzinfo=UTC), "Europe/Amsterdam")
    assert not is_monthly_occurrence(MONDAY, "Europe/Amsterdam")


async def test_the_weekly_job_is_scheduled_monday_0830(app: App) -> None:
    from bot.storage.models import RecurringJob

    async with app.services.db.session() as session:
        job = await session.get(RecurringJob, "digest:weekly")
    assert job is not None and job.cron == "30 8 * * mon" and job.timezone == "Europe/Amsterdam"


async def test_mydata_and_forget_me_cover_the_digest(app: App) -> None:
    await say(app, "!digest aan", BA)
    await say(app, "Een reactie", BA, room=QROOM, thread="$q9")
    exported = await app.services.privacy.export_all(BA)
    assert exported["digest"]["subscription"]["enabled"] is True
    assert exported["digest"]["threads_taken_part_in"]
    await app.services.privacy.erase_all(BA)
    assert [r for r in await rows_mentioning(app.services.db, BA) if r[0].startswith("digest_")] == []


async def test_forgetting_a_newcomer_removes_them_from_other_members_digests(
    app: App, clock: FakeClock
) -> None:
    await say(app, "!digest aan", BA)
    clock.set(MONDAY)
    assert await digest(app).send_all(MONDAY) == 1  # names AD and JC as new members
    assert any(r[0] == "core_nudges" for r in await rows_mentioning(app.services.db, JC))
    await app.services.privacy.erase_all(JC)
    assert await rows_mentioning(app.services.db, JC) == []
    await deliver(app)
    assert not [t for t in sent_to(app, BA) if "Je overzicht van" in t]


async def test_a_preview_asked_in_a_room_goes_to_the_dm(app: App) -> None:
    await say(app, "!digest nu", JC, room="!welcome")
    [in_room] = [m for m in transport(app).sent if m.room_id == RoomId("!welcome")]
    assert "privébericht" in in_room.plain and "Nieuwe leden" not in in_room.plain
    assert "Nieuwe leden" in sent_to(app, JC)[-1]


async def test_member_text_in_a_planned_digest_stays_escaped_when_it_is_sent(
    app: App, clock: FakeClock
) -> None:
    """The digest is stored as a nudge and rendered again at delivery: a question's text
    must come out as text, not as markup or a link."""
    await say(app, "!digest aan", BA)
    await ask(app, AD, "bedrijfsarts", "<b>Vet</b> of **ster** [klik](https://x.example) @room?", "$q5")
    clock.set(MONDAY)
    assert await digest(app).send_all(MONDAY) == 1
    await deliver(app)
    [sent] = [m for m in transport(app).sent if m.room_id == dm(BA) and "Je overzicht van" in m.plain]
    assert sent.html is not None
    assert "&lt;b&gt;Vet&lt;/b&gt;" in sent.html and "<b>Vet" not in sent.html
    assert "<strong>ster" not in sent.html and 'x.example"' not in sent.html
    assert "@room" not in sent.plain and "@room" not in sent.html
