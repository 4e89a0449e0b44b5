"""The foundation as members meet it, on a real Synapse with real matrix-nio clients."""

from __future__ import annotations

from typing import Any

import pytest
from nio import RoomMessageNotice

from bot.config import Config
from tests.integration.conftest import BotRunner, Member, barrier, barrier_from_elsewhere, open_dm

pytestmark = pytest.mark.integration


def _formatted(event: Any) -> str:
    return event.source["content"].get("formatted_body", "")


async def test_help_in_a_room(bot: BotRunner, bot_config: Config, member_factory: Any) -> None:
    bob: Member = await member_factory("bob")
    room = await bob.join(bot_config.rooms["welcome"])
    reply = await bob.ask(room, "!help")
    assert isinstance(reply, RoomMessageNotice)
    assert "!taal" in reply.body and "Kies je taal" in reply.body
    assert "<code>" in _formatted(reply)
    mentions = reply.source["content"]["m.mentions"]  # always set: nobody is pinged
    assert not mentions.get("user_ids") and not mentions.get("room")
    assert "!status" not in reply.body  # admins only


async def test_help_in_a_dm_without_prefix(bot: BotRunner, bot_config: Config, member_factory: Any) -> None:
    bob: Member = await member_factory("bob")
    dm = await open_dm(bob, bot_config.matrix.user_id)
    reply = await bob.ask(dm, "help")
    assert "!taal" in reply.body


async def test_language_switch(bot: BotRunner, bot_config: Config, member_factory: Any) -> None:
    carol: Member = await member_factory("carol")
    room = await carol.join(bot_config.rooms["welcome"])
    assert "from now on" in (await carol.ask(room, "!taal en")).body
    assert "Choose your language" in (await carol.ask(room, "!help")).body
    assert "vanaf nu" in (await carol.ask(room, "!language nl")).body


async def test_unknown_command_gets_a_suggestion(
    bot: BotRunner, bot_config: Config, member_factory: Any
) -> None:
    bob: Member = await member_factory("bob")
    room = await bob.join(bot_config.rooms["welcome"])
    reply = await bob.ask(room, "!hlep")
    assert "Bedoelde je `!help`" in reply.body


async def test_admin_command_refused_to_a_member(
    bot: BotRunner, bot_config: Config, member_factory: Any
) -> None:
    bob: Member = await member_factory("bob")
    alice: Member = await member_factory("alice")
    room = await bob.join(bot_config.rooms["welcome"])
    await alice.join(bot_config.rooms["welcome"])
    assert "alleen voor beheerders" in (await bob.ask(room, "!status")).body
    assert "Geplande taken" in (await alice.ask(room, "!status")).body


async def test_conversation_survives_a_bot_restart(bot_config: Config, member_factory: Any) -> None:
    runner = BotRunner(bot_config)
    await runner.start()
    bob: Member = await member_factory("bob")
    try:
        dm = await open_dm(bob, bot_config.matrix.user_id)
        await bob.ask(dm, "!instellingen")  # the intro, then question 1
        question = await bob.wait_for(lambda r, e: r == dm and "Vraag 1 van 2" in getattr(e, "body", ""))
        assert "2. English" in question[0].body
        assert "Vraag 2 van 2" in (await bob.ask(dm, "2")).body
    finally:
        await runner.stop()
    # The bot was down between two answers; it comes back and carries on where it was.
    restarted = BotRunner(bot_config)
    await restarted.start()
    try:
        assert "Saved" in (await bob.ask(dm, "ja")).body  # English was chosen before the restart
        assert "Choose your language" in (await bob.ask(dm, "help")).body
    finally:
        await restarted.stop()


async def test_no_answer_to_history_after_restart(bot_config: Config, member_factory: Any) -> None:
    bob: Member = await member_factory("bob")
    runner = BotRunner(bot_config)
    await runner.start()
    room = await bob.join(bot_config.rooms["welcome"])
    try:
        await bob.ask(room, "!help")
    finally:
        await runner.stop()
    await runner.start()
    try:
        # A fresh command is answered; the old one is not answered a second time.
        reply = await bob.ask(room, "!taal")
        assert "Ik spreek nu" in reply.body
        await barrier(bob, room)  # a second answer to the old !help would be here by now
        helps = [e for e in bob.notices(room) if "Kies je taal" in e.body]
        assert len(helps) == 1
    finally:
        await runner.stop()


async def test_a_new_bot_ignores_old_commands(
    synapse: Any, accounts: Any, tmp_path: Any, tag: str, member_factory: Any
) -> None:
    from bot.config import parse_config
    from tests.integration.conftest import bot_config_dict

    raw = bot_config_dict(synapse, accounts, tmp_path, tag)
    first = BotRunner(parse_config(raw, tmp_path / "a.yaml", env={}))
    await first.start()  # creates the rooms
    await first.stop()
    bob: Member = await member_factory("bob")
    room = await bob.join(raw["rooms"]["welcome"])
    await bob.send(room, "!help")  # nobody is listening
    raw["database"]["url"] = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    fresh = BotRunner(parse_config(raw, tmp_path / "b.yaml", env={}))
    await fresh.start()  # a first start: no sync token, history must be ignored
    try:
        reply = await bob.ask(room, "!taal")
        assert "Ik spreek nu" in reply.body
        assert not [e for e in bob.notices(room) if "Kies je taal" in e.body]
    finally:
        await fresh.stop()


async def test_a_direct_chat_others_join_is_no_longer_private(
    bot: BotRunner, bot_config: Config, member_factory: Any
) -> None:
    bob: Member = await member_factory("bob")
    carol: Member = await member_factory("carol")
    dm = await open_dm(bob, bot_config.matrix.user_id)
    assert "!taal" in (await bob.ask(dm, "help")).body
    # Bob lets Carol in: personal answers must not go to a room with a third person.
    await bob.client.room_invite(dm, carol.user_id)
    await carol.join(dm)
    # Carol's join is in the room before Bob's "help" (the homeserver confirmed it), and
    # the bot takes a room's membership from the same sync before it handles the message.
    # The bot answers nothing in this room now, so the barrier goes through another one.
    welcome = await bob.join(bot_config.rooms["welcome"])
    await bob.send(dm, "help")
    await barrier_from_elsewhere(bob, welcome)
    assert len([e for e in bob.notices(dm) if "!taal" in e.body]) == 1
