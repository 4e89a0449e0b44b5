"""The router as a member meets it: commands, languages, errors, checks and scope."""

from __future__ import annotations

from bot.app import App
from bot.ids import RoomId
from tests.fakes import ALICE, BOB, FakeTransport, message


async def test_help_lists_commands_in_dutch(app: App, transport: FakeTransport) -> None:
    await app.router.dispatch(message("!help"))
    text = transport.last()
    assert "!taal" in text and "Kies je taal" in text
    assert "!status" not in text  # admin-only: hidden from members
    assert transport.sent[-1].notice and transport.sent[-1].html


async def test_help_in_a_room_is_short_and_the_full_list_goes_to_the_dm(
    app: App, transport: FakeTransport
) -> None:
    await app.router.dispatch(message("!help"))
    [in_room] = [m for m in transport.sent if m.room_id == "!welcome"]
    [in_dm] = [m for m in transport.sent if m.room_id != "!welcome"]
    # First what a newcomer needs, then a few commands, then where the rest is.
    assert in_room.plain.index("!intro") < in_room.plain.index("!taal")
    assert "privégesprek" in in_room.plain and "!bijeenkomsten" in in_room.plain
    assert len(in_room.plain.splitlines()) <= 15
    assert "!mijngegevens" not in in_room.plain and "!mijngegevens" in in_dm.plain
    assert len(in_dm.plain.splitlines()) > 30


async def test_help_in_a_dm_is_the_full_list(app: App, transport: FakeTransport) -> None:
    await app.router.dispatch(message("!help", room="!dm-bob", is_direct=True))
    assert len(transport.sent) == 1 and transport.sent[0].room_id == "!dm-bob"
    assert "!mijngegevens" in transport.last()


async def test_help_shows_admin_commands_to_admins(app: App, transport: FakeTransport) -> None:
    await app.router.dispatch(message("!hulp", sender=ALICE))
    assert "!status" in transport.last()


async def test_help_for_one_command(app: App, transport: FakeTransport) -> None:
    await app.router.dispatch(message("!help taal"))
    assert "!taal [nl|en]" in transport.last()
    assert "!lang" in transport.last()


async def test_language_switch_is_remembered(app: App, transport: FakeTransport) -> None:
    await app.router.dispatch(message("!taal en"))
    assert "from now on" in transport.last()
    await app.router.dispatch(message("!help"))
    assert "Choose your language" in transport.last()
    assert "!language" in transport.last()


async def test_unknown_command_suggests_nearest(app: App, transport: FakeTransport) -> None:
    await app.router.dispatch(message("!hepl"))
    assert "Bedoelde je `!help`" in transport.last() or "Bedoelde je !help" in transport.last()


async def test_admin_only_refused_to_member(app: App, transport: FakeTransport) -> None:
    await app.router.dispatch(message("!status", sender=BOB))
    assert "alleen voor beheerders" in transport.last()
    await app.router.dispatch(message("!status", sender=ALICE))
    assert "Geplande taken" in transport.last()


async def test_power_in_the_space_makes_an_admin(app: App, transport: FakeTransport) -> None:
    app.services.rooms.space_id = RoomId("!space")
    transport.levels[("!space", BOB)] = 100
    await app.router.dispatch(message("!status", sender=BOB))
    assert "Geplande taken" in transport.last()


async def test_power_in_one_room_gives_no_community_wide_rights(app: App, transport: FakeTransport) -> None:
    app.services.rooms.space_id = RoomId("!space")
    transport.levels[("!welcome", BOB)] = 100
    await app.router.dispatch(message("!status", sender=BOB))
    assert "alleen voor beheerders" in transport.last()
    roles = app.services.roles
    assert not await roles.is_moderator(BOB)
    # ... but it does count for that room's own actions, and only there.
    assert await roles.is_room_moderator(BOB, RoomId("!welcome"))
    assert not await roles.is_room_moderator(BOB, RoomId("!events"))
    transport.levels[("!dm-bob", BOB)] = 100  # a room of his own is no community room
    assert not await roles.is_room_moderator(BOB, RoomId("!dm-bob"))


async def test_bad_choice_explains_and_shows_usage(app: App, transport: FakeTransport) -> None:
    await app.router.dispatch(message("!taal fr"))
    text = transport.last()
    assert "fr" in text and "nl, en" in text and "Gebruik" in text


async def test_too_many_arguments(app: App, transport: FakeTransport) -> None:
    await app.router.dispatch(message("!taal en extra"))
    assert "te veel" in transport.last()


async def test_dm_without_prefix(app: App, transport: FakeTransport) -> None:
    await app.router.dispatch(message("help", room="!dm-bob", is_direct=True))
    assert "!taal" in transport.last()


async def test_plain_room_chat_is_not_answered(app: App, transport: FakeTransport) -> None:
    await app.router.dispatch(message("hallo allemaal"))
    assert transport.sent == []


async def test_unknown_room_is_ignored(app: App, transport: FakeTransport) -> None:
    await app.router.dispatch(message("!help", room="!elsewhere"))
    assert transport.sent == []


async def test_own_messages_are_ignored(app: App, transport: FakeTransport) -> None:
    await app.router.dispatch(message("!help", sender=transport.own_user_id))
    assert transport.sent == []


async def test_reply_in_thread_stays_in_thread(app: App, transport: FakeTransport) -> None:
    await app.router.dispatch(message("!help", thread_root="$root"))
    [in_room] = [m for m in transport.sent if m.room_id == "!welcome"]
    assert in_room.thread_root == "$root"


async def test_unexpected_error_is_friendly(app: App, transport: FakeTransport) -> None:
    async def broken(ctx: object) -> None:
        raise RuntimeError("secret internals")

    cmd = app.services.registry.get("taal")
    assert cmd is not None
    original = cmd.callback
    cmd.callback = broken
    try:
        await app.router.dispatch(message("!taal"))
    finally:
        cmd.callback = original
    assert "secret internals" not in transport.last()
    assert "ging iets mis" in transport.last()


async def test_user_text_is_escaped_in_html(app: App, transport: FakeTransport) -> None:
    await app.router.dispatch(message("!<img src=x onerror=alert(1)>"))
    html = transport.sent[-1].html or ""
    assert "<img" not in html and "&lt;img" in html


async def test_replies_have_deterministic_transaction_ids(app: App, transport: FakeTransport) -> None:
    incoming = message("!help")
    await app.router.dispatch(incoming)
    await app.router.dispatch(incoming)  # the same event again: same txn ids, each sent once
    assert len(transport.sent) == 2  # the short help in the room and the full one in the DM
    assert len({m.txn_id for m in transport.sent}) == 2
