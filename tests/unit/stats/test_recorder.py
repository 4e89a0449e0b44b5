"""Cross-profession interactions: a reply to another member's message counts, as
profession x profession per day and room kind; no text and no user ids are kept."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App, build_app
from bot.clock import FakeClock
from bot.ids import EventId, RoomId, UserId
from bot.transport import IncomingMessage
from commands.introductions.store import ProfileStore
from commands.stats.feature import Stats
from commands.stats.models import StatsInteraction, StatsRecentEvent
from tests.fakes import FakeTransport, make_config
from tests.privacy_scan import rows_mentioning

pytestmark = pytest.mark.both_databases

BA = UserId("@ba:localhost")
AD = UserId("@ad:localhost")
JC = UserId("@jc:localhost")
NOBODY = UserId("@noprofile:localhost")
THEME = "!buikpijn"

_ids = itertools.count(1)


@pytest.fixture
async def app(tmp_path: Path, clock: FakeClock, db_url: str) -> AsyncIterator[App]:
    built = await build_app(make_config(tmp_path, database={"url": db_url}), clock=clock, transport_factory=FakeTransport)
    built.services.rooms.set("welcome", RoomId("!welcome"))
    built.services.rooms.set("theme:buikpijndossiers", RoomId(THEME))
    profiles = ProfileStore(built.services.db, clock)
    for user, profession in ((BA, "bedrijfsarts"), (AD, "arbeidsdeskundige"), (JC, "jobcoach")):
        await profiles.save(user, {"profession": profession, "listed": True})
    yield built
    await built.stop()


def stats(app: App) -> Stats:
    return next(f for f in app.features if isinstance(f, Stats))


async def post(
    app: App,
    sender: UserId,
    room: str = THEME,
    reply_to: str | None = None,
    thread: str | None = None,
    body: str = "Een inhoudelijke reactie op de casus",
    event_id: str | None = None,
) -> str:
    event = event_id or f"$m{next(_ids)}"
    await app.router.dispatch(
        IncomingMessage(
            event_id=EventId(event),
            room_id=RoomId(room),
            sender=sender,
            body=body,
            timestamp=datetime.now(UTC),
            is_direct=room.startswith("!dm-"),
            thread_root=EventId(thread) if thread else None,
            reply_to=EventId(reply_to) if reply_to else None,
        )
    )
    return event


async def matrix(app: App) -> dict[tuple[str, str, str], int]:
    async with app.services.db.session() as session:
        rows = (await session.scalars(select(StatsInteraction))).all()
    return {(r.from_profession, r.to_profession, r.room_kind): r.count for r in rows}


async def test_a_reply_to_another_profession_is_counted(app: App, clock: FakeClock) -> None:
    root = await post(app, BA)
    await post(app, AD, reply_to=root)
    await post(app, JC, thread=root)
    assert await matrix(app) == {
        ("arbeidsdeskundige", "bedrijfsarts", "theme"): 1,
        ("jobcoach", "bedrijfsarts", "theme"): 1,
    }
    today = clock.now().date()
    assert await stats(app).recorder.matrix(today, today) == {
        ("arbeidsdeskundige", "bedrijfsarts"): 1,
        ("jobcoach", "bedrijfsarts"): 1,
    }


async def test_room_kind_is_the_logical_room(app: App) -> None:
    root = await post(app, BA, room="!welcome")
    await post(app, AD, room="!welcome", reply_to=root)
    assert await matrix(app) == {("arbeidsdeskundige", "bedrijfsarts", "welcome"): 1}


async def test_answering_yourself_a_replay_a_dm_or_a_member_without_profile_counts_nothing(app: App) -> None:
    root = await post(app, BA)
    await post(app, BA, reply_to=root)  # their own message
    await post(app, NOBODY, reply_to=root)  # no profession known
    await post(app, AD, room="!dm-ad", reply_to=root)  # a direct chat
    await post(app, AD, room="!elsewhere", reply_to=root)  # not a community room
    assert await matrix(app) == {}
    reply = await post(app, AD, reply_to=root)
    await post(app, AD, reply_to=root, event_id=reply)  # the same event again
    assert await matrix(app) == {("arbeidsdeskundige", "bedrijfsarts", "theme"): 1}


async def test_same_profession_replies_are_on_the_diagonal(app: App) -> None:
    other_ba = UserId("@ba2:localhost")
    await ProfileStore(app.services.db, app.services.clock).save(other_ba, {"profession": "bedrijfsarts"})
    root = await post(app, BA)
    await post(app, other_ba, reply_to=root)
    assert await matrix(app) == {("bedrijfsarts", "bedrijfsarts", "theme"): 1}


async def test_no_text_and_no_user_ids_are_stored(app: App) -> None:
    secret = "Cliënt Jansen, geboren 1 mei 1970"
    root = await post(app, BA, body=secret)
    await post(app, AD, reply_to=root, body=secret)
    for user in (BA, AD):
        assert [r for r in await rows_mentioning(app.services.db, user) if r[0].startswith("stats_")] == []
    async with app.services.db.session() as session:
        for table in (StatsInteraction, StatsRecentEvent):
            for row in (await session.scalars(select(table))).all():
                assert "Jansen" not in repr(vars(row))


async def test_old_messages_are_pruned_and_a_member_is_erased(app: App, clock: FakeClock) -> None:
    recorder = stats(app).recorder
    old = await post(app, BA)
    clock.advance(timedelta(days=31))
    fresh = await post(app, BA)
    await post(app, AD)
    assert await recorder.prune() == 1
    await post(app, AD, reply_to=old)  # too old to be remembered: not counted
    assert await matrix(app) == {}
    exported = await app.services.privacy.export_all(BA)
    assert exported["stats"] == {"recent_messages_remembered_by_profession": 1}
    await app.services.privacy.erase_all(BA)
    async with app.services.db.session() as session:
        assert await session.get(StatsRecentEvent, fresh) is None
    await post(app, AD, reply_to=fresh)
    assert await matrix(app) == {}
