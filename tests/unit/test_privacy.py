"""Privacy rights as a member meets them: the statement, their data as a file in their
DM, and being forgotten after saying yes, with no row left that names them."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from nio import RoomRedactError, RoomRedactResponse

from bot.app import App
from bot.clock import FakeClock
from bot.errors import MessageRejected
from bot.ids import EventId, RoomId, UserId
from bot.matrix.sending import Sender
from bot.storage import Database, keyvalue
from bot.storage.models import Conversation, DirectRoom, SeenReaction
from bot.transport import OutgoingMessage
from tests.fakes import ALICE, BOB, FakeTransport, message
from tests.privacy_scan import rows_mentioning

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
    assert "Moderatoren zien alleen totalen" in dutch
    await _say(app, "!taal en")
    await _say(app, "!privacy")
    assert "!mydata" in transport.last() and "!forgetme" in transport.last()


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
    assert "Vraag 1 van 1" in question and "Je taal en meldingsvoorkeur" in question
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
    assert "Vraag 1 van 1" in transport.last()
    await _say(app, "ja", room=DM)
    done = transport.last()
    assert done.startswith("Klaar: ik heb alles gewist")
    assert "Je taal en meldingsvoorkeur: 1 weggehaald" in done
    assert BOB not in done
    assert await app.services.members.export_member(BOB) == {}
    assert await app.services.conversations.active(BOB) is None


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

    await _say(app, "!forgetme", room=DM)
    await _say(app, "yes", room=DM)

    assert await rows_mentioning(db, BOB) == []
    assert await rows_mentioning(db, ALICE) == alice_before  # nobody else is touched
    assert transport.forgotten_direct_rooms == [BOB]
    done = transport.last()
    assert done.startswith("Done: I erased everything")
    assert "Which private chat is ours: 2 removed" in done  # the row and its DM message
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
