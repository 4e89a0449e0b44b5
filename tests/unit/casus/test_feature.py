"""Casus prompts as members meet them, through the real router, scheduler, outbox and
a real database file; only the chat network is a recording fake."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import App
from bot.clock import FakeClock
from bot.ids import UserId
from bot.storage.models import Conversation, Nudge, RecurringJob, ScheduledJob
from commands.casus.feature import Casus
from commands.casus.store import OPEN
from commands.introductions.store import ProfileStore
from tests.fakes import ALICE, BOB, FakeTransport, message, quick_app
from tests.privacy_scan import rows_mentioning

pytestmark = pytest.mark.both_databases

CAROL = UserId("@carol:localhost")
DAVE = UserId("@dave:localhost")  # no profile
ERIN = UserId("@erin:localhost")  # a listed company doctor who chose the theme
FRANK = UserId("@frank:localhost")  # a listed insurance physician who chose another theme
ROOM = "!buikpijn"
# Tuesday 16 March 2027, 10:30 in Amsterdam (CET): the schedule below.
POST_AT = datetime(2027, 3, 16, 9, 30, tzinfo=UTC)

CASUS_CONFIG: dict[str, Any] = {
    "schedules": {"buikpijndossiers": {"cron": "30 10 * * tue"}},
    "step_days": [2, 4],
    "close_days": 7,
    "invite_after_hours": 24,
    "invite_per_profession": 3,
}


async def make_app(tmp_path: Path, clock: FakeClock, db_url: str, **casus: Any) -> App:
    rooms = {"welcome": "!welcome", "events": "!events", "theme:buikpijndossiers": ROOM}
    built: App = await quick_app(tmp_path, clock, db_url, rooms, casus={**CASUS_CONFIG, **casus})
    return built


@pytest.fixture
async def app(tmp_path: Path, clock: FakeClock, db_url: str) -> AsyncIterator[App]:
    built = await make_app(tmp_path, clock, db_url)
    yield built
    await built.stop()


def feature(app: App) -> Casus:
    return next(f for f in app.features if isinstance(f, Casus))


def fake(app: App) -> FakeTransport:
    assert isinstance(app.transport, FakeTransport)
    return app.transport


async def profile(app: App, user: UserId, profession: str, themes: list[str], listed: bool = True) -> None:
    store = ProfileStore(app.services.db, app.services.clock)
    await store.save(user, {"profession": profession, "themes": themes, "listed": listed})


async def say(app: App, text: str, sender: UserId = BOB, room: str = ROOM, thread: str | None = None) -> None:
    direct = room.startswith("!dm-")
    await app.router.dispatch(message(text, sender=sender, room=room, is_direct=direct, thread_root=thread))


async def tick(app: App, clock: FakeClock, to: datetime) -> None:
    """Time passes: what fell due runs, as timers would, and the outbox sends."""
    clock.set(to)
    await app.services.scheduler.catch_up()
    await app.services.scheduler.catch_up()
    await app.services.outbox.deliver_due()


def in_room(app: App, room: str) -> list[Any]:
    return [m for m in fake(app).sent if m.room_id == room]


def posts(app: App) -> list[Any]:
    """What the casus feature itself posted in the theme room (not command replies)."""
    return [m for m in in_room(app, ROOM) if (m.txn_id or "").startswith("casus.")]


async def root_of(app: App) -> str:
    run = await feature(app).store.current_run("buikpijndossiers")
    assert run is not None and run.root_event_id
    return run.root_event_id


async def test_a_scheduled_case_runs_its_steps_meter_invitations_and_summary(
    app: App, clock: FakeClock
) -> None:
    await profile(app, BOB, "arbeidsdeskundige", ["buikpijndossiers"])
    await profile(app, CAROL, "jobcoach", ["buikpijndossiers"])
    await profile(app, ERIN, "bedrijfsarts", ["buikpijndossiers"])
    await profile(app, FRANK, "verzekeringsarts", ["kanker-en-werk"])
    await feature(app).start()

    await tick(app, clock, POST_AT - timedelta(minutes=1))
    assert in_room(app, ROOM) == []
    await tick(app, clock, POST_AT + timedelta(seconds=5))
    [post] = in_room(app, ROOM)
    assert post.plain.startswith("📋 **Casus: Twintig maanden verder")
    assert "Stap 1 van 3 · Beeldvorming" in post.plain and not post.notice
    assert "Nog niemand gehoord" in post.plain
    root = await root_of(app)

    # Replies in the thread are counted per profession; chat outside it is not.
    await say(app, "Ik mis een overdracht tussen de bedrijfsartsen.", BOB, thread=root)
    await say(app, "Op de werkvloer zou ik beginnen met een gesprek.", CAROL, thread=root)
    await say(app, "Herkenbaar!", DAVE, thread=root)
    await say(app, "Nog een gedachte.", BOB, thread=root)
    await say(app, "Los gesprek in de ruimte.", CAROL)
    await say(app, "!casus", DAVE)
    meter = fake(app).last()
    assert "Stap 1 van 3 · Beeldvorming" in meter
    assert "Gehoord: 1 arbeidsdeskundige, 1 jobcoach, 1 lid zonder profiel" in meter
    assert "Nog niet: bedrijfsarts, verzekeringsarts, arboarts, re-integratieprofessional" in meter
    # Every profession !leden knows, the expert by experience too; "ander beroep" is none.
    assert meter.split("Nog niet")[1].rstrip().endswith("casemanager, ervaringsdeskundige")

    # Dave has no profile: one friendly nudge to introduce himself, once ever.
    await say(app, "En nog iets.", DAVE, thread=root)
    async with app.services.db.session() as session:
        hints = (await session.scalars(select(Nudge).where(Nudge.kind == "casus.intro_hint"))).all()
    assert [h.user_id for h in hints] == [DAVE]

    # 24 hours later the missing professions are invited: Erin (bedrijfsarts, theme chosen),
    # not Frank (another theme), not those who spoke.
    await tick(app, clock, POST_AT + timedelta(hours=24, minutes=1))
    invitations = in_room(app, "!dm-erin")
    assert len(invitations) == 1
    assert f"https://matrix.to/#/{ROOM}/{root}" in invitations[0].plain
    assert "perspectief van een bedrijfsarts" in invitations[0].plain
    assert in_room(app, "!dm-frank") == [] and in_room(app, "!dm-bob") == []
    assert "!intro" in in_room(app, "!dm-dave")[0].plain

    # Step 2 after two days, in the thread, with the meter.
    await tick(app, clock, POST_AT + timedelta(days=2, minutes=1))
    step_two = [m for m in in_room(app, ROOM) if m.thread_root == root]
    assert len(step_two) == 1 and "Stap 2 van 3 · Oordeelsvorming" in step_two[0].plain
    assert "Gehoord: 1 arbeidsdeskundige" in step_two[0].plain
    # Erin was invited once for this case: step 2's invitations skip her.
    await tick(app, clock, POST_AT + timedelta(days=3, minutes=2))
    assert len(in_room(app, "!dm-erin")) == 1

    await say(app, "Als bedrijfsarts zou ik eerst de overdracht herstellen.", ERIN, thread=root)
    await tick(app, clock, POST_AT + timedelta(days=4, minutes=1))
    step_three = [m for m in in_room(app, ROOM) if m.thread_root == root][-1]
    assert "Stap 3 van 3 · Besluitvorming" in step_three.plain
    assert "Wat betekent dit voor de werknemer" in step_three.plain

    await tick(app, clock, POST_AT + timedelta(days=7, minutes=1))
    summary = [m for m in in_room(app, ROOM) if m.thread_root == root][-1]
    assert "Afgesloten: Twintig maanden verder" in summary.plain
    assert "Deelnemers: 4 · berichten: 6" in summary.plain
    assert "- 1 bedrijfsarts" in summary.plain and "- 2 leden zonder profiel" not in summary.plain
    for user in (BOB, CAROL, DAVE, ERIN):
        assert user in summary.plain and f"https://matrix.to/#/{user}" in summary.html
    assert summary.mentions == ()  # thanked by name, nobody pinged
    assert "Nog niet aan tafel: verzekeringsarts" in summary.plain
    # A week on, the schedule brings the next case; the first is closed.
    [closed] = await feature(app).store.runs("closed")
    assert closed.root_event_id == root
    current = await feature(app).store.current_run("buikpijndossiers")
    assert current is not None and current.case_id == "bp-arbeidsconflict"

    # Nothing ran twice: one root, two steps and one summary, then the next root.
    assert [m.txn_id for m in posts(app)] == [
        "casus.1.root",
        "casus.1.step2",
        "casus.1.step3",
        "casus.1.summary",
        "casus.2.root",
    ]


async def test_a_restart_in_between_neither_loses_nor_doubles(
    tmp_path: Path, clock: FakeClock, db_url: str
) -> None:
    first = await make_app(tmp_path, clock, db_url)
    await feature(first).start()
    await tick(first, clock, POST_AT + timedelta(seconds=5))
    assert len(in_room(first, ROOM)) == 1
    root = await root_of(first)
    # The job runs again (a crash before it was marked done): still one post.
    await feature(first).posting.run_post(
        "casus.post:buikpijndossiers", {"theme": "buikpijndossiers", "occurrence": POST_AT.isoformat()}
    )
    await first.services.outbox.deliver_due()
    assert len(in_room(first, ROOM)) == 1
    await first.stop()

    # Down for three days: step 2 fell due meanwhile and is posted late, once.
    clock.set(POST_AT + timedelta(days=3))
    second = await make_app(tmp_path, clock, db_url)
    try:
        await second.services.scheduler.start()
        await feature(second).start()
        await second.services.scheduler.catch_up()
        await second.services.outbox.deliver_due()
        steps = [m for m in in_room(second, ROOM) if m.thread_root == root]
        assert [("Stap 2 van 3" in m.plain) for m in steps] == [True]
        assert not [m for m in in_room(second, ROOM) if m.thread_root is None]  # no second root
        await tick(second, clock, POST_AT + timedelta(days=4, minutes=1))
        await tick(second, clock, POST_AT + timedelta(days=4, minutes=2))
        assert len([m for m in in_room(second, ROOM) if m.thread_root == root]) == 2
    finally:
        await second.stop()


async def test_no_case_repeats_before_the_bank_is_used_up(app: App, clock: FakeClock) -> None:
    casus = feature(app)
    await casus.start()
    bank = casus.state.bank("buikpijndossiers")
    assert bank == ["bp-langlopend-dossier", "bp-arbeidsconflict"]
    posted = []
    for week in range(5):
        await tick(app, clock, POST_AT + timedelta(weeks=week, seconds=5))
        run = await casus.store.current_run("buikpijndossiers")
        assert run is not None
        posted.append(run.case_id)
    assert posted == bank * 2 + bank[:1]
    # Each new case closed the one before it, with its summary.
    closed = [m for m in in_room(app, ROOM) if "Afgesloten" in m.plain]
    assert len(closed) == 4


async def test_every_other_week(tmp_path: Path, clock: FakeClock, db_url: str) -> None:
    built = await make_app(
        tmp_path,
        clock,
        db_url,
        schedules={"buikpijndossiers": {"cron": "30 10 * * tue", "every_weeks": 2, "anchor": "2027-03-16"}},
        holidays="none",  # 27 April is Koningsdag; this test is about the weeks
    )
    try:
        await feature(built).start()
        for week in range(4):
            await tick(built, clock, POST_AT + timedelta(weeks=week, seconds=5))
        roots = [m for m in in_room(built, ROOM) if m.thread_root is None]
        assert len(roots) == 2
        await say(built, "!casus planning", BOB)
        assert "dinsdag 27 april 2027" in fake(built).last()
    finally:
        await built.stop()


async def test_commands_show_list_post_and_close(app: App, clock: FakeClock) -> None:
    await feature(app).start()
    await say(app, "!casus", BOB)
    assert "geen casus" in fake(app).last()
    await say(app, "!casus lijst", BOB)
    # Short numbers members can type, not internal ids.
    listed = fake(app).last()
    assert "bp-langlopend-dossier" not in listed and "- `1` " in listed and "- `2` " in listed
    conflict = next(line for line in listed.splitlines() if "Ziek gemeld na een conflict" in line)
    number = conflict.split("`")[1]
    await say(app, "!case list", BOB)
    await say(app, f"!casus plaats {number}", BOB)
    assert "moderator" in fake(app).last().lower()
    await say(app, "!casus plaats 99", ALICE, room="!welcome")
    assert "Een casus `99` ken ik niet" in fake(app).last() and "nummers" in fake(app).last()
    await say(app, f"!casus plaats {number}", ALICE, room="!welcome")
    await app.services.outbox.deliver_due()
    assert "Geplaatst: **Ziek gemeld na een conflict" in fake(app).last()
    assert posts(app)[0].plain.startswith("📋 **Casus: Ziek gemeld")
    await say(app, "!casus planning", BOB)
    assert "Twintig maanden verder" in fake(app).last()  # the next one in the bank
    await say(app, "!case close", ALICE)
    assert any("Afgesloten: Ziek gemeld" in m.plain for m in in_room(app, ROOM))
    assert "afgesloten" in fake(app).last()
    # English names and help exist.
    await say(app, "!help case submit", BOB)
    assert "privégesprek" in fake(app).last()


async def test_members_switch_invitations_off(app: App, clock: FakeClock) -> None:
    await profile(app, ERIN, "bedrijfsarts", ["buikpijndossiers"])
    await feature(app).start()
    await say(app, "!casus uitnodigingen uit", ERIN, room="!dm-erin")
    assert "niet meer uit" in fake(app).last()
    await tick(app, clock, POST_AT + timedelta(seconds=5))
    await tick(app, clock, POST_AT + timedelta(hours=24, minutes=1))
    assert [
        m for m in in_room(app, "!dm-erin") if "casus" in m.plain.lower() and "matrix.to" in m.plain
    ] == []
    await say(app, "!casus uitnodigingen aan", ERIN, room="!dm-erin")
    assert "weer uit" in fake(app).last()


async def test_invitations_stay_within_the_number_per_profession(app: App, clock: FakeClock) -> None:
    doctors = [UserId(f"@arts{i}:localhost") for i in range(5)]
    for doctor in doctors:
        await profile(app, doctor, "bedrijfsarts", ["buikpijndossiers"])
    await feature(app).start()
    await tick(app, clock, POST_AT + timedelta(seconds=5))
    await tick(app, clock, POST_AT + timedelta(hours=24, minutes=1))
    invited = [d for d in doctors if in_room(app, f"!dm-{d.strip('@').split(':')[0]}")]
    assert len(invited) == 3


async def test_a_submission_not_sent_keeps_nothing(app: App) -> None:
    dm = "!dm-bob"
    await say(app, "!casus indienen", BOB, room=dm)
    for answer in ("1", "Een titel", "Een medewerker van begin vijftig.", "overslaan", "ja"):
        await say(app, answer, BOB, room=dm)
    assert "Ik plaats hem zonder je naam." in fake(app).last()
    await say(app, "nee", BOB, room=dm)
    assert "niet verstuurd" in fake(app).last()
    await say(app, "!casus wachtrij", ALICE)
    assert "geen" in fake(app).last().lower() or "Er wacht" in fake(app).last()
    assert await feature(app).store.submissions("pending") == []


async def test_a_member_submits_a_case_and_the_guard_keeps_nothing_flagged(
    app: App, clock: FakeClock
) -> None:
    dm = "!dm-bob"
    await say(app, "!casus indienen", BOB, room=ROOM)
    assert "privégesprek" in fake(app).sent[-2].plain
    assert "Bij welk thema" in fake(app).sent[-1].plain
    await say(app, "1", BOB, room=dm)
    await say(app, "Een re-integratie die vastloopt", BOB, room=dm)
    flagged = "Mevrouw Jansen (BSN 111222333) belt steeds op 06-12345678."
    await say(app, flagged, BOB, room=dm)
    refusal = fake(app).sent[-2].plain
    assert "een BSN-achtig nummer 11•••••33" in refusal and "een telefoonnummer 06••••••78" in refusal
    assert "een naam Ja••en" in refusal and "111222333" not in refusal
    async with app.services.db.session() as session:
        state = await session.get(Conversation, BOB)
    assert state is not None and "Jansen" not in str(state.answers) and "111222333" not in str(state.answers)
    await say(app, "Een medewerker van begin vijftig belt steeds over zijn rooster.", BOB, room=dm)
    await say(app, "Wie neemt de regie?\nWat zou de werkgever moeten doen?", BOB, room=dm)
    await say(app, "nee", BOB, room=dm)
    # A summary of the submission before it goes.
    summary = fake(app).last()
    assert summary.startswith("**Zo komt je casus bij de moderator**")
    assert "**Titel:** Een re-integratie die vastloopt" in summary and "begin vijftig" in summary
    assert "- Wie neemt de regie?" in summary and "Ik noem je als inbrenger." in summary
    assert "Vraag " not in summary.splitlines()[0]
    await say(app, "ja", BOB, room=dm)
    assert "nummer 1" in fake(app).last()

    await say(app, "!casus wachtrij", BOB)
    assert "moderator" in fake(app).last().lower()
    await say(app, "!casus wachtrij", ALICE)
    assert "in je privégesprek" in fake(app).last()
    queue = in_room(app, "!dm-alice")[-1].plain
    assert "Een re-integratie die vastloopt" in queue and BOB in queue and "met naam" in queue
    await say(app, "!casus goedkeuren 1", ALICE)
    assert "ingediend-1" in fake(app).last()
    await app.services.outbox.deliver_due()
    assert "goedgekeurd" in in_room(app, dm)[-1].plain
    casus = feature(app)
    assert casus.state.bank("buikpijndossiers")[-1] == "ingediend-1"
    await say(app, "!casus plaats ingediend-1", ALICE)
    root = posts(app)[-1]
    assert "Een re-integratie die vastloopt" in root.plain and "ingebracht door" in root.plain
    assert "Wie neemt de regie?" in root.plain and root.mentions == ()
    await say(app, "!casus goedkeuren 1", ALICE)
    assert "Er wacht geen casus met nummer 1" in fake(app).last()


async def test_a_rejected_case_tells_the_member_why(app: App) -> None:
    store = feature(app).store
    record = await store.add_submission(BOB, "buikpijndossiers", "Titel", "Tekst", [], True, "nl")
    await say(app, f"!casus afwijzen {record.id} Deze casus lijkt te veel op een bestaande.", ALICE)
    await app.services.outbox.deliver_due()
    assert "te veel op een bestaande" in in_room(app, "!dm-bob")[-1].plain


async def test_export_and_erasure_leave_no_row_naming_the_member(app: App, clock: FakeClock) -> None:
    await profile(app, BOB, "arbeidsdeskundige", ["buikpijndossiers"])
    await profile(app, ERIN, "bedrijfsarts", ["buikpijndossiers"])
    casus = feature(app)
    await casus.start()
    await tick(app, clock, POST_AT + timedelta(seconds=5))
    root = await root_of(app)
    await say(app, "Mijn reactie.", BOB, thread=root)
    await say(app, "Ook een reactie.", ERIN, thread=root)
    await say(app, "!casus uitnodigingen uit", BOB, room="!dm-bob")
    await casus.store.add_submission(BOB, "buikpijndossiers", "Wacht", "Nog in de wachtrij", [], True, "nl")
    approved = await casus.store.add_submission(
        BOB, "buikpijndossiers", "Goed", "Goedgekeurd", [], False, "nl"
    )
    await say(app, f"!casus goedkeuren {approved.id}", ALICE)
    await tick(app, clock, POST_AT + timedelta(days=7, minutes=1))  # the summary names Bob

    exported = (await app.services.privacy.export_all(BOB))["casus"]
    assert exported["contributions"][0]["profession"] == "arbeidsdeskundige"
    assert len(exported["submissions"]) == 2 and "invitations_off_since" in exported

    await app.services.privacy.erase_all(BOB)
    assert await rows_mentioning(app.services.db, BOB) == []
    assert await casus.store.contributions((await casus.store.runs("closed"))[0].id) == [
        (ERIN, "bedrijfsarts")
    ]
    # The approved case stays in the library, without its submitter.
    [kept] = await casus.store.submissions("approved")
    assert kept.user_id is None and kept.anonymous


async def test_a_bot_restart_rebuilds_the_listener_from_the_database(
    tmp_path: Path, clock: FakeClock, db_url: str
) -> None:
    first = await make_app(tmp_path, clock, db_url)
    await feature(first).start()
    await tick(first, clock, POST_AT + timedelta(seconds=5))
    root = await root_of(first)
    await first.stop()
    second = await make_app(tmp_path, clock, db_url)
    try:
        await feature(second).start()
        await say(second, "Na de herstart.", BOB, thread=root)
        run = await feature(second).store.current_run("buikpijndossiers")
        assert run is not None and run.status == OPEN
        assert await feature(second).store.contributions(run.id) == [(BOB, "unknown")]
    finally:
        await second.stop()


async def test_a_post_missed_while_down_comes_late_also_every_other_week(
    tmp_path: Path, clock: FakeClock, db_url: str
) -> None:
    built = await make_app(
        tmp_path,
        clock,
        db_url,
        schedules={"buikpijndossiers": {"cron": "30 10 * * tue", "every_weeks": 2, "anchor": "2027-03-16"}},
        holidays="none",  # 27 April is Koningsdag; this test is about the weeks
    )
    try:
        await feature(built).start()
        # Down on Tuesday 16 March; back on the off-week Tuesday: the missed case is posted, once.
        await tick(built, clock, POST_AT + timedelta(weeks=1, seconds=5))
        await tick(built, clock, POST_AT + timedelta(weeks=1, minutes=5))
        [run] = await feature(built).store.runs("open")
        assert run.slot == f"schedule:{POST_AT.isoformat()}"
        assert len([m for m in posts(built) if m.thread_root is None]) == 1
        await tick(built, clock, POST_AT + timedelta(weeks=2, seconds=5))
        assert len([m for m in posts(built) if m.thread_root is None]) == 2
    finally:
        await built.stop()


async def test_a_forgotten_member_is_no_longer_credited_on_their_case(app: App) -> None:
    casus = feature(app)
    record = await casus.store.add_submission(BOB, "buikpijndossiers", "Mijn casus", "Tekst", [], False, "nl")
    await say(app, f"!casus goedkeuren {record.id}", ALICE)
    await app.services.privacy.erase_all(BOB)
    # Without a restart in between: what the feature keeps in memory forgets Bob too.
    await say(app, f"!casus plaats ingediend-{record.id}", ALICE)
    root = posts(app)[-1]
    assert root.plain.startswith("📋 **Casus: Mijn casus")
    assert "ingebracht door" not in root.plain and BOB not in root.plain and BOB not in root.html


async def test_stored_jobs_keep_their_kinds_and_ids(app: App, clock: FakeClock) -> None:
    """Jobs outlive the code that planned them: a restart after an upgrade must find each
    stored job's handler by its kind, and cancel it by its id."""
    await feature(app).start()
    await tick(app, clock, POST_AT + timedelta(seconds=5))
    async with app.services.db.session() as session:
        cron = (await session.scalars(select(RecurringJob))).all()
        once = (await session.scalars(select(ScheduledJob).order_by(ScheduledJob.run_at))).all()
    assert [(j.job_id, j.kind) for j in cron if j.kind.startswith("casus.")] == [
        ("casus.post:buikpijndossiers", "casus.post")
    ]
    posted = POST_AT + timedelta(seconds=5)
    planned = [(j.job_id, j.kind, j.run_at - posted) for j in once if j.kind.startswith("casus.")]
    assert planned == [
        ("casus.publish:1", "casus.publish", timedelta(minutes=2)),
        ("casus.invite:1:1", "casus.invite", timedelta(hours=24)),
        ("casus.step:1:2", "casus.step", timedelta(days=2)),
        ("casus.invite:1:2", "casus.invite", timedelta(days=3)),
        ("casus.step:1:3", "casus.step", timedelta(days=4)),
        ("casus.invite:1:3", "casus.invite", timedelta(days=5)),
        ("casus.close:1", "casus.close", timedelta(days=7)),
    ]
    await say(app, "!casus sluit", ALICE)
    async with app.services.db.session() as session:
        left = (
            await session.scalars(
                select(ScheduledJob.job_id).where(
                    ScheduledJob.kind.startswith("casus."), ScheduledJob.status == "pending"
                )
            )
        ).all()
    # The follow-ups are cancelled; the publish safety net stays and will find the case posted.
    assert left == ["casus.publish:1"]


async def test_building_the_feature_registers_nothing(app: App) -> None:
    """Registering is the explicit step setup() takes; a second build touches no service."""
    before = app.services.privacy.names()
    second = Casus(app.services)
    assert app.services.privacy.names() == before and "casus" in before
    with pytest.raises(ValueError, match="registered twice"):
        second.register()


async def test_the_planning_is_one_list_by_date(tmp_path: Path, clock: FakeClock, db_url: str) -> None:
    # Buikpijndossiers posts on Tuesdays, neurodiversiteit on Mondays: the list interleaves.
    themes = [
        {"key": "buikpijndossiers", "room": "#buikpijn:localhost", "name": {"nl": "Buikpijndossiers", "en": "B"}},
        {"key": "neurodiversiteit", "room": "#neuro:localhost", "name": {"nl": "Neurodiversiteit", "en": "N"}},
    ]
    rooms = {"welcome": "!welcome", "theme:buikpijndossiers": ROOM, "theme:neurodiversiteit": "!neuro"}
    schedules = {"buikpijndossiers": {"cron": "30 10 * * tue"}, "neurodiversiteit": {"cron": "30 10 * * mon"}}
    built: App = await quick_app(
        tmp_path, clock, db_url, rooms, themes=themes, casus={**CASUS_CONFIG, "schedules": schedules}
    )
    try:
        await feature(built).start()
        await say(built, "!casus planning", BOB)
        report = fake(built).last()
        months = {"maart": 3, "april": 4}
        days = [(months[m], int(d)) for d, m in re.findall(r"(?:maandag|dinsdag) (\d+) (maart|april)", report)]
        assert len(days) == 4 and days == sorted(days)
    finally:
        await built.stop()


async def test_no_case_on_a_public_holiday_or_in_the_christmas_week(
    tmp_path: Path, clock: FakeClock, db_url: str
) -> None:
    clock.set(datetime(2027, 4, 21, 12, 0, tzinfo=UTC))
    built = await make_app(tmp_path, clock, db_url)
    try:
        settings = feature(built).state.settings
        zone = "Europe/Amsterdam"
        at = datetime(2027, 4, 27, 9, 30, tzinfo=UTC)  # Koningsdag, a Tuesday
        assert not settings.posts_on(at, zone)
        assert not settings.posts_on(datetime(2027, 12, 28, 9, 30, tzinfo=UTC), zone)
        assert settings.posts_on(datetime(2027, 5, 4, 9, 30, tzinfo=UTC), zone)
        await feature(built).start()
        await say(built, "!casus planning", BOB)
        # The Tuesday schedule skips Koningsdag: 20 April is past, 4 May is next.
        assert "27 april" not in fake(built).last() and "dinsdag 4 mei 2027" in fake(built).last()
        # The scheduled fire on the holiday posts nothing.
        await tick(built, clock, datetime(2027, 4, 27, 8, 30, 5, tzinfo=UTC))
        assert not any(m.plain.startswith("📋") for m in in_room(built, ROOM))
        # The week after, the case comes as usual.
        await tick(built, clock, datetime(2027, 5, 4, 8, 30, 5, tzinfo=UTC))
        assert any(m.plain.startswith("📋") for m in in_room(built, ROOM))
    finally:
        await built.stop()
