"""Questions to a profession, through the real router and database; only the chat
network is a recording fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import App, build_app
from bot.clock import FakeClock
from bot.ids import RoomId, UserId
from bot.storage.models import Nudge
from commands.questions.feature import Questions
from commands.questions.models import Question, QuestionInvite
from tests.fakes import BOB, FakeTransport, make_config, message
from tests.privacy_scan import rows_mentioning

pytestmark = pytest.mark.both_databases

BAS = [UserId(f"@ba{i}:localhost") for i in range(1, 6)]
QROOM = "!questions"


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
    yield built
    await built.stop()


def feature(app: App) -> Questions:
    return next(f for f in app.features if isinstance(f, Questions))


def dm(user: UserId) -> str:
    return f"!dm-{user.strip('@').split(':')[0]}"


async def say(app: App, text: str, sender: UserId = BOB, room: str | None = None, thread: str | None = None) -> None:
    target = room or dm(sender)
    await app.router.dispatch(
        message(text, sender=sender, room=target, is_direct=target.startswith("!dm-"), thread_root=thread)
    )
    await app.services.outbox.deliver_due()


async def run_jobs(app: App) -> None:
    for _ in range(3):
        await app.services.scheduler.run_due()
    await app.services.outbox.deliver_due()


def texts(transport: FakeTransport, room: str) -> list[str]:
    return [m.plain for m in transport.sent if m.room_id == room]


async def members(app: App, **extra: Any) -> None:
    store = feature(app).profiles
    for user in BAS:
        await store.save(user, {"profession": "bedrijfsarts", "listed": True})
    await store.save(UserId("@hidden:localhost"), {"profession": "bedrijfsarts", "listed": False})
    await store.save(UserId("@ad:localhost"), {"profession": "arbeidsdeskundige", "listed": True})


async def invites(app: App) -> list[QuestionInvite]:
    async with app.services.db.session() as session:
        return list((await session.scalars(select(QuestionInvite).order_by(QuestionInvite.id))).all())


async def test_a_question_is_posted_invites_rotate_and_the_asker_hears_of_answers(
    app: App, transport: FakeTransport
) -> None:
    await members(app)
    await say(app, "!vragen uit", sender=BAS[0])
    assert "geen uitnodigingen meer" in transport.last()
    await say(app, "!vraag BA Hoe gaan jullie om met een FML bij wisselende klachten? @room", room="!welcome")
    [post] = [m for m in transport.sent if m.room_id == QROOM]
    assert "Vraag aan: Bedrijfsarts" in post.plain and "wisselende klachten" in post.plain
    assert BOB in post.plain and post.mentions == () and "@\u2060room" in post.plain
    assert "Ik heb 3 collega's (Bedrijfsarts) uitgenodigd" in texts(transport, "!welcome")[-1]
    await run_jobs(app)
    invited = [i.user_id for i in await invites(app)]
    assert len(invited) == 3 and BAS[0] not in invited and "@hidden:localhost" not in invited
    for user in invited:
        assert "Een collega heeft een vraag voor Bedrijfsarts" in texts(transport, dm(UserId(user)))[-1]

    # A second question goes to those not invited before, first.
    await say(app, "!vraag bedrijfsarts Wie heeft ervaring met long covid en re-integratie?")
    await run_jobs(app)
    second = [i.user_id for i in await invites(app)][3:]
    assert set(second) >= set(BAS[1:]) - set(invited)

    # An answer in the thread: the asker gets a DM naming who answered; the asker's own
    # reply does not count.
    root = post.txn_id and transport._txns[post.txn_id]
    await say(app, "Ik vraag altijd een tweede FML aan.", sender=BAS[2], room=QROOM, thread=root)
    assert "heeft gereageerd op je vraag 1" in texts(transport, dm(BOB))[-1]
    await say(app, "Dank je!", room=QROOM, thread=root)
    assert sum("gereageerd" in t for t in texts(transport, dm(BOB))) == 1
    await say(app, "!vragen open")
    assert "Open vragen (2)" in transport.last() and "(1 reactie(s))" in transport.last()
    await say(app, "!vraag opgelost", room=QROOM, thread=root)
    assert "Vraag 1 staat als beantwoord" in transport.last()
    await say(app, "!vraag opgelost 1")
    assert "al als beantwoord" in transport.last()
    await say(app, "!vraag opgelost 2", sender=BAS[1])
    assert "Ik vind geen vraag 2 van jou" in transport.last()


async def test_unanswered_after_two_days_one_more_round_then_a_note(
    app: App, transport: FakeTransport, clock: FakeClock
) -> None:
    await members(app)
    await say(app, "!vraag bedrijfsarts Wat doen jullie als een werknemer de FML niet herkent?")
    await run_jobs(app)
    first = {i.user_id for i in await invites(app)}
    clock.advance(timedelta(hours=47))
    await run_jobs(app)
    assert len(await invites(app)) == 3
    clock.advance(timedelta(hours=2))
    await run_jobs(app)
    rows = await invites(app)
    assert len(rows) == 5 and {i.user_id for i in rows[3:]}.isdisjoint(first)
    assert "nog 2 andere collega's uitgenodigd" in texts(transport, dm(BOB))[-1]
    async with app.services.db.session() as session:
        assert (await session.scalars(select(Question.rounds))).one() == 2


async def test_bad_input_is_explained(app: App, transport: FakeTransport) -> None:
    await say(app, "!vraag tandarts Hoe zit het met de FML in dit geval?")
    assert "Het beroep `tandarts` ken ik niet" in transport.last()
    await say(app, "!vraag BA kort")
    assert "wat kort" in transport.last()
    await say(app, "!vraag opgelost")
    assert "geen open vraag" in transport.last()
    await say(app, "!vragen open")
    assert "geen open vragen" in transport.last()
    await say(app, "!ask jobcoach Who has experience with a job coach in the social domain?")
    assert "niemand van Jobcoach om uit te nodigen" in transport.last()


async def test_erasing_the_asker_takes_the_question_down(app: App, transport: FakeTransport) -> None:
    await members(app)
    await say(app, "!vraag ba Hoe bespreek je belastbaarheid met een werkgever?")
    await run_jobs(app)
    exported = await app.services.privacy.export_all(BOB)
    assert exported["questions"]["questions_asked"][0]["profession"] == "bedrijfsarts"
    invited = (await invites(app))[0].user_id
    await say(app, "!vergeet-mij")
    await say(app, "ja")
    assert await rows_mentioning(app.services.db, BOB) == []
    assert transport.redactions and transport.redactions[0][0] == QROOM
    # The invitations other members got quoted the question; the quote is gone too.
    async with app.services.db.session() as session:
        quoted = (await session.scalars(select(Nudge.params).where(Nudge.kind == "questions.invite"))).all()
    assert quoted and all("belastbaarheid" not in str(params) for params in quoted)
    await say(app, "!vergeet-mij", sender=UserId(invited))
    await say(app, "ja", sender=UserId(invited))
    assert await rows_mentioning(app.services.db, invited) == []


async def test_a_replayed_command_posts_and_invites_once(app: App, transport: FakeTransport) -> None:
    await members(app)
    event = message("!vraag BA Hoe weeg je een second opinion mee in de FML?", sender=BOB, room="!welcome")
    await app.router.dispatch(event)
    await app.router.dispatch(event)  # the same event again, as after a crash mid-command
    await run_jobs(app)
    assert len([m for m in transport.sent if m.room_id == QROOM]) == 1
    assert len(await invites(app)) == 3
    async with app.services.db.session() as session:
        assert len((await session.scalars(select(Question))).all()) == 1
    invited = (await invites(app))[0].user_id
    assert sum("Een collega heeft een vraag" in t for t in texts(transport, dm(UserId(invited)))) == 1


async def test_a_member_has_at_most_three_open_questions_at_once(app: App, transport: FakeTransport) -> None:
    await members(app)
    for n in range(1, 4):
        await say(app, f"!vraag ba Hoe pak je situatie nummer {n} aan bij een werkgever?")
    assert len([m for m in transport.sent if m.room_id == QROOM]) == 3
    await say(app, "!vraag ba Nog een vierde vraag over de probleemanalyse?")
    assert "al 3 open vragen" in transport.last() and "vraag opgelost" in transport.last()
    await say(app, "!ask ba And a fourth one in English, about the action plan?")
    assert "al 3 open vragen" in transport.last()  # the member's language, whichever word they typed
    assert len([m for m in transport.sent if m.room_id == QROOM]) == 3
    # Another member is not limited by BOB's questions.
    await say(app, "!vraag ba Mijn eerste vraag over het plan van aanpak?", sender=BAS[0])
    assert len([m for m in transport.sent if m.room_id == QROOM]) == 4
    # Marking one solved makes room for the next.
    await say(app, "!vraag opgelost 1")
    await say(app, "!vraag ba Nog een vierde vraag over de probleemanalyse?")
    assert len([m for m in transport.sent if m.room_id == QROOM]) == 5
    async with app.services.db.session() as session:
        asked = (await session.scalars(select(Question).where(Question.asker_id == BOB))).all()
    assert sorted(q.status for q in asked) == ["answered", "open", "open", "open"]
