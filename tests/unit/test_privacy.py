"""Privacy rights as a member meets them: the statement, their data as a file in their
DM, and being forgotten after saying yes, with no row left that names them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from nio import RoomRedactError, RoomRedactResponse

from bot.app import App
from bot.clock import FakeClock
from bot.errors import MessageRejected
from bot.ids import EventId, RoomId, UserId
from bot.matrix.sending import Sender
from bot.retention import NUDGE_PARAMS_RETENTION, OUTBOX_RETENTION, SEEN_REACTION_RETENTION
from bot.scheduler.job_rows import FINISHED_JOB_RETENTION
from bot.storage import Database, keyvalue
from bot.storage.models import Conversation, DirectRoom, SeenReaction
from bot.transport import OutgoingMessage
from commands.privacy.forget import part_label_key
from commands.stats.recorder import RETENTION
from tests.fakes import ALICE, BOB, FakeTransport, message, quick_app
from tests.privacy_scan import files_mentioning, memory_mentioning, rows_mentioning

pytestmark = pytest.mark.both_databases

DM = "!dm-bob"


async def _say(app: App, text: str, *, room: str = "!welcome", sender: UserId = BOB) -> None:
    await app.router.dispatch(message(text, sender=sender, room=room, is_direct=room.startswith("!dm-")))


def _sent_to(transport: FakeTransport, room: str) -> list[str]:
    return [m.plain for m in transport.sent if m.room_id == room]


# -- the statement ---------------------------------------------------------------


async def test_statement_names_the_commands_in_the_members_language(
    app: App, transport: FakeTransport
) -> None:
    await _say(app, "!privacyverklaring")
    dutch = transport.last()
    assert "Wat ik bewaar" in dutch and "!mijngegevens" in dutch and "!vergeet-mij" in dutch
    assert "alleen totalen" in dutch
    await _say(app, "!taal en")
    await _say(app, "!privacy")
    assert "!mydata" in transport.last() and "!forgetme" in transport.last()


async def test_statement_tells_what_the_code_does(app: App, transport: FakeTransport) -> None:
    await _say(app, "!privacy")
    dutch = transport.last()
    # The parts all exist now; nothing is promised "once they exist".
    assert "zodra die onderdelen er zijn" not in dutch
    # The moderation queue shows the submitter and the text (casus wachtrij).
    assert "nooit wat jij persoonlijk hebt ingevuld" not in dutch
    assert "met je naam en je tekst" in dutch
    # The stats remember recent messages for 30 days (commands/stats/recorder.py).
    assert RETENTION.days == 30 and "30 dagen lang welk beroep" in dutch
    # The retention periods of bot/retention.py and the scheduler.
    assert OUTBOX_RETENTION.days == NUDGE_PARAMS_RETENTION.days == 30 and SEEN_REACTION_RETENTION.days == 365
    assert FINISHED_JOB_RETENTION.days == 90 and "na 90 dagen" in dutch and "na een jaar" in dutch
    # No contact configured: the statement says so instead of naming nobody.
    assert "nog niet opgegeven wie verantwoordelijk is" in dutch


async def test_statement_names_the_configured_contact(tmp_path: Path, clock: FakeClock, db_url: str) -> None:
    community = {
        "name": "Kennisbrug",
        "admins": [str(ALICE)],
        "allowed_homeservers": ["localhost"],
        "privacy_contact": "Stichting Kennisbrug, privacy@kennisbrug.example",
    }
    built = await quick_app(tmp_path, clock, db_url, {"welcome": "!welcome"}, community=community)
    try:
        await _say(built, "!privacy")
        text = built.transport.last()
        assert "Stichting Kennisbrug, privacy@kennisbrug.example" in text
        assert "nog niet opgegeven" not in text
    finally:
        await built.stop()


async def test_short_statement_exists_for_the_consent_question(app: App) -> None:
    short = app.services.catalogue.plain("nl", "privacy.statement_short")
    assert "!vergeet-mij" in short and short.count(".") <= 4


# -- the export ------------------------------------------------------------------


async def test_my_data_goes_to_the_dm_as_a_json_file(app: App, transport: FakeTransport) -> None:
    await _say(app, "!taal nl")
    await _say(app, "!mijngegevens")
    [upload] = transport.uploads
    assert upload.room_id == DM
    assert upload.filename == "kennisbrug-gegevens-2027-03-16.json"
    assert upload.content_type == "application/json"
    document = json.loads(upload.data.decode("utf-8"))
    assert document["member"] == BOB
    assert document["community"] == "Kennisbrug"
    assert document["generated_at"] == "2027-03-16T09:00:00+00:00"
    assert document["data"]["core.members"]["language"] == "nl"
    assert set(document["data"]) == set(app.services.privacy.names())
    # The room hears only where the file went; the explanation is in the DM.
    assert _sent_to(transport, "!welcome")[-1].startswith("Je gegevens staan in ons privégesprek")
    assert any("JSON-bestand" in text for text in _sent_to(transport, DM))
    assert "nl" not in _sent_to(transport, "!welcome")[-1].split()


async def test_my_data_in_the_dm_keeps_accents_readable(app: App, transport: FakeTransport) -> None:
    async with app.services.db.transaction() as session:
        session.add(DirectRoom(user_id=BOB, room_id=DM, created_at=app.services.clock.now()))
    await app.services.outbox.enqueue(
        OutgoingMessage(room_id=RoomId(DM), plain="Welkom, één vraag nog", txn_id="test:dm:1")
    )
    await _say(app, "mijn gegevens", room=DM)
    [upload] = transport.uploads
    assert upload.room_id == DM
    assert "één vraag".encode() in upload.data  # UTF-8, not \u00e9\u00e9n
    data = json.loads(upload.data)["data"]
    assert data["core.direct_room"]["room_id"] == DM
    assert data["core.outbox"]["messages"][0]["text"] == "Welkom, één vraag nog"
    assert not _sent_to(transport, "!welcome")


# -- being forgotten -------------------------------------------------------------


async def test_forget_me_asks_in_the_dm_and_no_keeps_everything(app: App, transport: FakeTransport) -> None:
    await _say(app, "!taal nl")
    await _say(app, "!vergeet-mij")
    question = _sent_to(transport, DM)[-1]
    # One question needs no counter; it starts with the question itself.
    assert question.startswith("Wil je dat ik alles vergeet") and "Vraag" not in question
    assert "Je taal en meldingsvoorkeur" in question
    assert "Ja, wis alles" in question
    assert "privébericht" in _sent_to(transport, "!welcome")[-1]
    await _say(app, "nee", room=DM)
    assert transport.last() == "Goed, ik wis niets. Alles blijft zoals het was."
    assert (await app.services.members.export_member(BOB))["language"] == "nl"


async def test_stop_cancels_kindly(app: App, transport: FakeTransport) -> None:
    await _say(app, "!taal en")
    await _say(app, "forget me", room=DM)
    assert "Would you like me to forget" in transport.last()
    await _say(app, "stop", room=DM)
    assert transport.last().startswith("All right, I erased nothing")
    assert await app.services.members.export_member(BOB)


async def test_an_unclear_answer_is_asked_again_then_yes_erases(app: App, transport: FakeTransport) -> None:
    await _say(app, "!taal nl")
    await _say(app, "vergeetmij", room=DM)
    await _say(app, "misschien", room=DM)
    assert "`misschien` staat er niet tussen" in transport.sent[-2].plain
    assert transport.last().startswith("Wil je dat ik alles vergeet")
    await _say(app, "ja", room=DM)
    done = transport.last()
    assert done.startswith("Klaar: ik heb alles gewist")
    assert "Je taal en meldingsvoorkeur: 1 weggehaald" in done
    assert BOB not in done
    assert await app.services.members.export_member(BOB) == {}
    assert await app.services.conversations.active(BOB) is None


@pytest.mark.parametrize("language", ["nl", "en"])
async def test_every_part_the_question_lists_has_a_readable_name(
    app: App, transport: FakeTransport, language: str
) -> None:
    # Every feature's privacy hook, not only the core's: no internal name like "casus".
    names = app.services.privacy.names()
    assert {"buddy", "casus", "digest", "events", "questions", "stats", "introductions"} <= set(names)
    await _say(app, f"!taal {language}")
    await _say(app, "!vergeet-mij" if language == "nl" else "!forgetme")
    question = _sent_to(transport, DM)[-1]
    listed = [line[2:] for line in question.splitlines() if line.startswith("- ")]
    assert len(listed) == len(names)
    for name in names:
        key = part_label_key(name)
        assert app.services.catalogue.keys(language) >= {key}, key
        assert app.services.catalogue.plain(language, key) in listed
    assert not set(listed) & set(names)


async def test_the_question_hint_shows_words_as_code(app: App, transport: FakeTransport) -> None:
    await _say(app, "!taal nl")
    await _say(app, "!vergeet-mij")
    [sent] = [m for m in transport.sent if m.room_id == DM][-1:]
    assert sent.html is not None
    assert "<em>antwoord met een nummer of de naam · <code>stop</code> om te stoppen</em>" in sent.html
    assert "`" not in sent.html


async def test_yes_in_the_other_language_erases_too(app: App, transport: FakeTransport) -> None:
    await _say(app, "!taal nl")
    await _say(app, "!vergeet-mij")
    await _say(app, "Yes!", room=DM)
    assert transport.last().startswith("Klaar: ik heb alles gewist")


async def _use_the_core_as(app: App, user: UserId, dm: str) -> None:
    """What a member leaves behind by using the core: every table that can name them."""
    services, now = app.services, app.services.clock.now()
    await _say(app, "!taal en", sender=user)
    await services.nudges.nudge(
        user, "test", "privacy.forget.cancelled", {"who": user}, dedupe_key=f"test:{user}"
    )
    async with services.db.transaction() as session:
        session.add(DirectRoom(user_id=user, room_id=dm, created_at=now))
        session.add(
            SeenReaction(
                event_id=f"$reaction-{user}",
                room_id="!welcome",
                sender=user,
                target_event_id="$card",
                key="👍",
                seen_at=now,
            )
        )
    await services.outbox.enqueue(
        OutgoingMessage(
            room_id=RoomId("!welcome"),
            plain=f"Welkom {user}!",
            html=f'Welkom <a href="https://matrix.to/#/{user}">{user}</a>!',
            mentions=(user,),
            txn_id=f"test:welcome:{user}",
        )
    )
    await services.outbox.enqueue(
        OutgoingMessage(room_id=RoomId(dm), plain="Je buddy wacht op je", txn_id=f"test:dm:{user}"),
        due_at=now + timedelta(days=1),
    )
    await services.scheduler.schedule_once(
        f"test:remind:{user}", "test.remind", now + timedelta(days=2), {"member": user}
    )
    await services.scheduler.schedule_cron(
        f"test:weekly:{dm}", "test.weekly", "0 9 * * 1", {"members": [user]}
    )
    await _say(app, "!instellingen", room=dm, sender=user)  # left open half-way
    # A listed profile: a row, and an entry in the directory index in memory.
    [intro] = [f for f in app.features if f.name == "introductions"]
    record, _new = await intro.store.save(  # type: ignore[attr-defined]
        user, {"profession": "arbeidsdeskundige", "experience": "ervaren", "region": "utrecht", "listed": True}
    )
    intro.directory.replace(record)  # type: ignore[attr-defined]
    # A live command (not backlog) passes flood control: a bucket in memory.
    await app.router.dispatch(
        message("!privacy", sender=user, room=dm, is_direct=True, at=now, backlog=False)
    )


async def test_after_yes_no_row_names_the_member(app: App, transport: FakeTransport) -> None:
    db = app.services.db
    await _use_the_core_as(app, BOB, DM)
    await _use_the_core_as(app, ALICE, "!dm-alice")
    before = {table for table, _column, _excerpt in await rows_mentioning(db, BOB)}
    assert before >= {
        "core_members",
        "core_conversations",
        "core_nudges",
        "core_direct_rooms",
        "core_seen_reactions",
        "core_outbox",
        "core_jobs",
        "core_recurring_jobs",
    }
    alice_before = await rows_mentioning(db, ALICE)
    in_memory = " ".join(memory_mentioning(app, BOB, skip=[transport, app.services.catalogue]))
    for cache in ("members._language_cache", "directory._records", "router.flood._buckets"):
        assert cache in in_memory, cache

    await _say(app, "!forgetme", room=DM)
    await _say(app, "yes", room=DM)

    assert await rows_mentioning(db, BOB) == []
    assert await rows_mentioning(db, ALICE) == alice_before  # nobody else is touched
    assert memory_mentioning(app, BOB, skip=[transport, app.services.catalogue, app.services.config]) == []
    assert memory_mentioning(
        app, ALICE, skip=[transport, app.services.catalogue]
    )  # the walk sees what is there
    assert transport.forgotten_direct_rooms == [BOB]
    assert transport.forgotten_members == [BOB]
    done = transport.last()
    assert done.startswith("Done: I erased everything")
    assert "Which private chat is ours, and the files I sent you there: 2 removed" in done  # row, DM message
    assert "Scheduled tasks that named you: 2 removed" in done
    assert BOB not in done


async def test_forgetting_someone_with_nothing_stored(app: App, transport: FakeTransport) -> None:
    await _say(app, "!vergeet-mij", room=DM)
    await _say(app, "ja", room=DM)
    assert transport.last().startswith("Klaar: ik bewaarde niets over je")


# -- the scan itself -------------------------------------------------------------


async def test_the_scan_finds_planted_rows(app: App) -> None:
    db = app.services.db
    await keyvalue.save(db, {"note": f"gesproken met {BOB} over casus 12"})
    async with db.transaction() as session:
        session.add(
            Conversation(
                user_id=ALICE,
                flow="x",
                room_id="!dm-alice",
                step=0,
                answers={"buddy": BOB},
                context={},
                started_at=app.services.clock.now(),
                updated_at=app.services.clock.now(),
            )
        )
    found = await rows_mentioning(db, BOB)
    assert ("core_state", "value", f"gesproken met {BOB} over casus 12") in found
    assert [(t, c) for t, c, _ in found if t == "core_conversations"] == [("core_conversations", "answers")]
    # Exact, case-sensitive matches only: @BOB is somebody else.
    assert await rows_mentioning(db, "@BOB:localhost") == []


async def test_the_scan_sees_url_encoded_ids(db: Database, clock: FakeClock) -> None:
    await keyvalue.save(db, {"link": "https://matrix.to/#/%40bob%3Alocalhost"})
    assert [t for t, _c, _e in await rows_mentioning(db, BOB)] == ["core_state"]


# -- redaction -------------------------------------------------------------------


class _RedactingClient:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, str | None, str | None]] = []

    async def room_redact(
        self, room_id: str, event_id: str, reason: str | None = None, tx_id: str | None = None
    ) -> Any:
        self.calls.append((room_id, event_id, reason, tx_id))
        return self.answers.pop(0)


async def test_matrix_redact_treats_a_missing_event_as_done(db: Database, clock: FakeClock) -> None:
    gone = RoomRedactError("not found", status_code="M_NOT_FOUND")
    client = _RedactingClient([RoomRedactResponse("$r1", "!welcome"), gone])
    sender = Sender(client, db, clock)  # type: ignore[arg-type]
    await sender.redact(RoomId("!welcome"), EventId("$card"), "forgotten")
    await sender.redact(RoomId("!welcome"), EventId("$card"), "forgotten")
    assert client.calls[0][:3] == ("!welcome", "$card", "forgotten")
    assert client.calls[0][3] == client.calls[1][3]  # a retry is the same redaction


async def test_matrix_redact_refused_raises(db: Database, clock: FakeClock) -> None:
    client = _RedactingClient([RoomRedactError("no", status_code="M_FORBIDDEN")])
    sender = Sender(client, db, clock)  # type: ignore[arg-type]
    with pytest.raises(MessageRejected):
        await sender.redact(RoomId("!welcome"), EventId("$card"), None)


async def test_fake_transport_records_redactions(transport: FakeTransport) -> None:
    await transport.redact(RoomId("!welcome"), EventId("$card"), "vergeten")
    assert transport.redactions == [("!welcome", "$card", "vergeten")]


# -- what lies outside the tables: files, the transport's records, the welcome -------


async def test_export_and_erase_cover_files_encryption_and_the_welcome(
    app: App, transport: FakeTransport
) -> None:
    services = app.services
    async with services.db.transaction() as session:
        session.add(DirectRoom(user_id=BOB, room_id=DM, created_at=services.clock.now()))
    [intro] = [f for f in app.features if f.name == "introductions"]
    store = intro.store  # type: ignore[attr-defined]
    await store.mark_welcomed(await store.marker_for(BOB))
    waiting = {"room_id": "!welcome", "event_id": "$unreadable", "first_seen": "2027-03-16T08:00:00+00:00"}
    transport.member_records[BOB] = {"undecryptable_messages": [waiting]}
    transport.member_records[ALICE] = {"undecryptable_messages": [dict(waiting, event_id="$alice")]}

    await _say(app, "!mijngegevens", room=DM)
    await _say(app, "!mijngegevens", room=DM)  # the second export lists the first file
    data = json.loads(transport.uploads[-1].data)["data"]
    [first_file] = data["core.direct_room"]["files_sent"]
    assert first_file["filename"] == transport.uploads[0].filename
    assert data["core.encryption"]["undecryptable_messages"] == [waiting]
    assert data["introductions"]["welcomed_at"] == "2027-03-16T09:00:00+00:00"

    posted = await transport.files_sent(RoomId(DM))
    assert len(posted) == 2
    await _say(app, "!vergeet-mij", room=DM)
    await _say(app, "ja", room=DM)
    # Both export files are redacted in the DM; the transport forgot Bob, not Alice.
    assert sorted(event for room, event, _ in transport.redactions if room == DM) == sorted(
        f.event_id for f in posted
    )
    assert await transport.files_sent(RoomId(DM)) == []
    assert transport.forgotten_members == [BOB] and ALICE in transport.member_records
    assert "Je apparaten en sleutels die ik kende" in transport.last()
    # The welcome marker stays (one welcome, ever) and names nobody.
    assert (await services.privacy.export_all(BOB))["introductions"] == {
        "welcomed_at": "2027-03-16T09:00:00+00:00"
    }
    assert await rows_mentioning(services.db, BOB) == []


# -- the crypto store ------------------------------------------------------------


async def test_forgetting_a_member_clears_their_encryption_records(tmp_path: Path, db: Database) -> None:
    """A real nio store: the member's devices, trust lines, Olm sessions and waiting
    messages go, in memory and on disk; another member's stay and still work."""
    from nio.crypto import OlmDevice

    from bot.clock import FakeClock as Clock
    from bot.config import parse_config
    from bot.matrix.client import build_client
    from bot.matrix.crypto import Crypto, Undecrypted
    from bot.secrets import Secrets

    raw = {
        "matrix": {
            "homeserver": "http://127.0.0.1:1",
            "user_id": "@kennisbrug:localhost",
            "password": "x",
            "store_path": str(tmp_path / "store"),
            "store_key": "a-key-0123456789",
        },
        "database": {"url": "sqlite+aiosqlite:///:memory:"},
        "community": {},
        "rooms": {"welcome": "#welkom:localhost"},
    }
    cfg = parse_config(raw, tmp_path / "bot.yaml", env={})
    client = build_client(cfg)
    client.user_id, client.device_id, client.access_token = "@kennisbrug:localhost", "BOTDEVICE", "t"
    crypto = Crypto(client, cfg, db, Clock(datetime(2027, 3, 16, 9, 0, tzinfo=UTC)), Secrets({}))
    await crypto.prepare()
    client.load_store()
    olm, store = client.olm, client.store
    assert olm is not None and store is not None
    bob_device = OlmDevice(BOB, "BOBPHONE", {"ed25519": "bob-ed-key", "curve25519": "bob-curve-key"})
    alice_device = OlmDevice(ALICE, "ALICEPC", {"ed25519": "alice-ed-key", "curve25519": "alice-curve-key"})
    for device in (bob_device, alice_device):
        olm.device_store.add(device)
    store.save_device_keys({BOB: {"BOBPHONE": bob_device}, ALICE: {"ALICEPC": alice_device}})
    store.blacklist_device(bob_device)
    store.verify_device(alice_device)
    for sender, event_id in ((BOB, "$bob"), (ALICE, "$alice")):
        source = {"event_id": event_id, "sender": sender, "content": {"session_id": f"s-{sender}"}}
        item = Undecrypted(
            event_id, "!welcome", sender, f"s-{sender}", datetime(2027, 3, 16, tzinfo=UTC), source
        )
        crypto.pending.add(item)
        crypto.pending.first_notice(item)
    await crypto.pending.save()
    store_path = tmp_path / "store"
    assert files_mentioning(store_path, BOB) and await rows_mentioning(db, BOB)

    exported = await crypto.member_data(UserId(BOB))
    assert exported["undecryptable_messages"][0]["event_id"] == "$bob"
    assert exported["devices"] == [{"device_id": "BOBPHONE", "display_name": ""}]

    removed = await crypto.forget_member(UserId(BOB))
    assert removed >= 4  # waiting message, its notice, the device row, the trust line
    assert files_mentioning(store_path, BOB) == []
    assert await rows_mentioning(db, BOB) == []
    assert BOB not in olm.device_store.users
    assert [d.id for d in store.load_device_keys().active_user_devices(ALICE)] == ["ALICEPC"]
    assert files_mentioning(store_path, ALICE)
    assert store.is_device_verified(alice_device)
    assert [item.sender for item in crypto.pending.items.values()] == [ALICE]
    await client.close()
