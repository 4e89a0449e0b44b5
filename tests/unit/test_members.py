"""Reaching a member: one call, one rule for direct sends and the outbox, and errors
and unreadable messages told by the core."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.app import App
from bot.context import Context
from bot.errors import BadArgument, UserError
from bot.ids import EventId, RoomId
from bot.transport import Attachment, IncomingReaction, Undecryptable
from tests.fakes import ALICE, BOB, FakeTransport, message

NOW = datetime(2027, 3, 16, 9, 0, tzinfo=UTC)


async def _ctx(app: App, text: str = "!help", sender=BOB, room: str = "!dm-bob", direct: bool = True) -> Context:
    incoming = message(text, sender=sender, room=room, is_direct=direct)
    return Context(app.services, incoming, await app.services.members.language_of(sender))


async def test_an_answer_to_the_members_own_command_goes_directly_into_their_dm(
    app: App, transport: FakeTransport
) -> None:
    ctx = await _ctx(app)
    await app.services.members.tell(BOB, "core.error.bad_int", txn_id="t.1", answering=ctx, value="x", param="p")
    assert [m.room_id for m in transport.sent] == [RoomId("!dm-bob")]
    assert await app.services.outbox.pending() == []


async def test_an_answer_asked_for_in_a_room_still_goes_to_the_dm(app: App, transport: FakeTransport) -> None:
    ctx = await _ctx(app, room="!welcome", direct=False)
    await app.services.members.tell(BOB, "core.error.bad_int", txn_id="t.2", answering=ctx, value="x", param="p")
    assert [m.room_id for m in transport.sent] == [RoomId("!dm-bob")]


async def test_what_the_bot_starts_itself_goes_through_the_outbox(app: App, transport: FakeTransport) -> None:
    await app.services.members.tell(BOB, "core.error.bad_int", txn_id="t.3", value="x", param="p")
    # Someone else's command does not count as answering this member either.
    other = await _ctx(app, sender=ALICE, room="!dm-alice")
    await app.services.members.tell(BOB, "core.error.bad_int", txn_id="t.4", answering=other, value="x", param="p")
    assert transport.sent == []
    queued = await app.services.outbox.pending()
    assert [(row.room_id, row.txn_id) for row in queued] == [("!dm-bob", "t.3"), ("!dm-bob", "t.4")]


async def test_parameters_and_files_are_made_in_the_members_language(app: App, transport: FakeTransport) -> None:
    await app.services.members.set_language(BOB, "en")
    seen: list[str] = []

    def language_name(language: str) -> str:
        seen.append(language)
        return language

    def files(language: str) -> list[Attachment]:
        return [Attachment(f"file in {language}".encode(), f"{language}.txt", "text/plain")]

    ctx = await _ctx(app)
    await app.services.members.tell(
        BOB, "core.error.bad_int", txn_id="t.5", answering=ctx, files=files, value=language_name, param="p"
    )
    assert seen == ["en"]
    assert transport.last() == app.services.catalogue.render("en", "core.error.bad_int", value="en", param="p").plain
    assert [(u.filename, u.txn_id, u.room_id) for u in transport.uploads] == [("en.txt", "t.5.f0", "!dm-bob")]


async def test_a_fan_out_is_rendered_per_language_and_queued_at_once(app: App) -> None:
    await app.services.members.set_language(ALICE, "en")
    renders: list[str] = []

    def counted(language: str) -> str:
        renders.append(language)
        return language

    told = await app.services.members.tell_many(
        [BOB, ALICE, BOB], "core.error.bad_int", txn_id=lambda user: f"fan.{user}", value=counted, param="p"
    )
    assert told == 3
    assert sorted(renders) == ["en", "nl"]
    queued = await app.services.outbox.pending()
    assert [row.txn_id for row in queued] == ["fan.@bob:localhost", "fan.@alice:localhost"]  # one per txn


async def test_an_error_without_a_command_is_told_in_the_dm_as_the_router_would(
    app: App, transport: FakeTransport
) -> None:
    await app.services.members.tell_error(BOB, BadArgument("core.error.bad_int", value="abc", param="dagen"), txn_id="e.1")
    assert transport.sent[-1].room_id == RoomId("!dm-bob")
    assert "abc" in transport.last()


async def test_a_listener_that_raises_a_user_error_tells_the_sender(app: App, transport: FakeTransport) -> None:
    async def refuses(event: IncomingReaction) -> None:
        raise UserError("core.error.slow_down")

    reaction = IncomingReaction(
        event_id=EventId("$react1"),
        room_id=RoomId("!events"),
        sender=BOB,
        target_event_id=EventId("$card"),
        key="✅",
        timestamp=NOW,
    )
    await app.router._run_listener(refuses, reaction)
    assert transport.sent[-1].room_id == RoomId("!dm-bob")
    assert transport.sent[-1].txn_id == "kb.error.$react1"
    expected = app.services.catalogue.render("nl", "core.error.slow_down").plain
    assert transport.last() == expected


async def test_an_unreadable_message_is_answered_by_the_core_in_the_members_language(
    app: App, transport: FakeTransport
) -> None:
    await app.services.members.set_language(BOB, "en")
    await app.router.dispatch(
        Undecryptable(
            event_id=EventId("$secret"), room_id=RoomId("!welcome"), sender=BOB, timestamp=NOW, is_direct=False
        )
    )
    sent = transport.sent[-1]
    assert sent.reply_to == EventId("$secret") and list(sent.mentions) == [BOB]
    assert sent.plain == app.services.catalogue.render("en", "core.encryption.undecryptable").plain
    await app.router.dispatch(
        Undecryptable(
            event_id=EventId("$dm"), room_id=RoomId("!dm-bob"), sender=BOB, timestamp=NOW, is_direct=True
        )
    )
    assert transport.sent[-1].mentions == ()
    assert transport.sent[-1].plain == app.services.catalogue.render("en", "core.encryption.undecryptable_direct").plain


def test_permalinks_come_from_the_transport(app: App, transport: FakeTransport) -> None:
    assert transport.permalink(RoomId("!r:localhost"), EventId("$e")) == "https://matrix.to/#/!r:localhost/$e"
    assert app.services.transport.server_name == "localhost"
