"""A question with personal data, on a real Synapse with real matrix-nio clients: the
asker is told what was found (masked), and the questions room receives nothing of it."""

from __future__ import annotations

from typing import Any

import pytest
from nio import RoomMessageText

from bot.clock import OffsetClock
from bot.config import Config
from commands.introductions.store import ProfileStore
from tests.integration.conftest import BotRunner
from tests.integration.test_buddy import say
from tests.integration.test_questions import bot_config

pytestmark = pytest.mark.integration
__all__ = ["bot_config"]  # the fixture, shared with the questions' test


async def test_a_question_with_personal_data_never_reaches_the_questions_room(
    bot_config: Config, member_factory: Any
) -> None:
    clock = OffsetClock()
    runner = BotRunner(bot_config, clock=clock)
    await runner.start()
    try:
        bob, carol, dave = [await member_factory(n) for n in ("bob", "carol", "dave")]
        assert runner.app is not None
        profiles = ProfileStore(runner.app.services.db, clock)
        await profiles.save(bob.user_id, {"profession": "arbeidsdeskundige", "listed": True})
        for member in (carol, dave):
            await profiles.save(member.user_id, {"profession": "bedrijfsarts", "listed": True})
        room = await bob.join(bot_config.rooms["questions"])
        refusal = await say(
            bob,
            room,
            "!vraag BA Mijn cliënt (BSN 111222333, bereikbaar op 06-12345678) heeft een FML nodig?",
            "persoonsgegevens",
        )
        assert "een BSN-achtig nummer 11•••••33" in refusal and "een telefoonnummer 06••••••78" in refusal
        assert "111222333" not in refusal and "12345678" not in refusal

        # A clean question goes through, so the room is watched: its post is the only one.
        await say(bob, room, "!vraag BA Hoe lees ik een FML bij wisselende klachten?", "uitgenodigd")
        await bob.wait_for(
            lambda r, e: r == room and isinstance(e, RoomMessageText) and "Vraag aan: Bedrijfsarts" in e.body
        )
        from_others = [str(getattr(e, "body", "")) for r, e in bob.seen if r == room]
        posts = [body for body in from_others if "Vraag aan" in body]
        assert len(posts) == 1 and "wisselende klachten" in posts[0]
        assert not any("111222333" in body or "12345678" in body for body in from_others)
        for member in (carol, dave):
            await member.sync_once(1000)
            assert not any("111222333" in str(getattr(e, "body", "")) for _, e in member.seen)
    finally:
        await runner.stop()
