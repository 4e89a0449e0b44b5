"""Events in the member's digest and in the organisers' counts, on a real database file."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import App
from bot.clock import FakeClock
from commands.digest.sources import DigestRequest
from commands.events.feature import Events
from commands.events.records import EventRecord
from commands.events.store import ANNOUNCED, DRAFT, NewEvent
from commands.introductions.store import ProfileStore
from commands.stats.sources import StatCount

pytestmark = pytest.mark.both_databases

ORGANISER = "@org:localhost"


def events(app: App) -> Events:
    return next(f for f in app.features if isinstance(f, Events))


async def event(
    app: App, title: str, in_days: int, audience: tuple[str, ...] = (), status: str = ANNOUNCED
) -> EventRecord:
    starts = app.services.clock.now() + timedelta(days=in_days)
    [created] = await events(app).store.create(
        [NewEvent(title, starts, starts + timedelta(hours=2), "online", audience=audience)], ORGANISER, status
    )
    return created


def request(app: App, user: str, profession: str | None, language: str = "nl") -> DigestRequest:
    now = app.services.clock.now()
    return DigestRequest(user, language, profession, (), now - timedelta(days=7), now)


async def test_the_digest_lists_upcoming_events_i_have_not_answered_for_my_profession(
    app: App, clock: FakeClock
) -> None:
    feature = events(app)
    for_all = await event(app, "Intervisie FML", 3)
    for_doctors = await event(app, "Spreekuur bedrijfsartsen", 5, ("bedrijfsarts",))
    await event(app, "Voor jobcoaches", 6, ("jobcoach",))
    await event(app, "Nog een concept", 7, status=DRAFT)
    await event(app, "Al geweest", -2)  # started: nothing to sign up for
    await feature.store.answer(for_all.id, "@ba:localhost", "maybe", "command")  # any answer counts

    sections = await feature.digest_sections(
        [
            request(app, "@ba:localhost", "bedrijfsarts"),
            request(app, "@ad:localhost", "arbeidsdeskundige", "en"),
            request(app, "@none:localhost", None),
        ]
    )
    doctor = sections["@ba:localhost"]
    assert [line.line.plain.split(" (")[0] for line in doctor.items] == ["- Spreekuur bedrijfsartsen"]
    assert f"bijeenkomst {for_doctors.id}" in doctor.items[0].line.plain
    assert f"`!aanmelden {for_doctors.id}`" in doctor.items[0].line.plain
    english = sections["@ad:localhost"]
    assert "not answered" in english.title.plain
    assert [i.line.plain.split(" (")[0] for i in english.items] == ["- Intervisie FML"]
    assert f"`!rsvp {for_all.id}`" in english.items[0].line.plain
    assert "@none:localhost" in sections  # no profession: events for everyone only
    assert len(sections["@none:localhost"].items) == 1


async def test_no_events_no_section(app: App) -> None:
    assert await events(app).digest_sections([request(app, "@ba:localhost", "bedrijfsarts")]) == {}


async def test_stats_count_sign_ups_and_attendance_per_profession(app: App, clock: FakeClock) -> None:
    feature = events(app)
    profiles = ProfileStore(app.services.db, clock)
    for user, profession in (
        ("@a:localhost", "bedrijfsarts"),
        ("@b:localhost", "bedrijfsarts"),
        ("@c:localhost", "jobcoach"),
    ):
        await profiles.save(user, {"profession": profession, "listed": True})
    start = clock.now()
    first = await event(app, "Intervisie", 2)
    second = await event(app, "Casusavond", 4)
    for user in ("@a:localhost", "@b:localhost", "@c:localhost", "@noprofile:localhost"):
        await feature.store.answer(first.id, user, "going", "command")
    await feature.store.answer(second.id, "@a:localhost", "going", "command")
    await feature.store.answer(second.id, "@c:localhost", "maybe", "command")  # not a sign-up
    clock.advance(timedelta(days=3))
    await feature.store.record_attendance(first.id, ["@a:localhost", "@c:localhost", "@noprofile:localhost"])

    counts = await feature.stats_counts(start, start + timedelta(days=30))
    assert sorted(counts, key=lambda c: (c.metric, c.profession or "")) == [
        StatCount("events_attended", "bedrijfsarts", 1),
        StatCount("events_attended", "jobcoach", 1),
        StatCount("events_signups", "bedrijfsarts", 3),
        StatCount("events_signups", "jobcoach", 1),
    ]
    assert await feature.stats_counts(start + timedelta(days=30), start + timedelta(days=60)) == []
