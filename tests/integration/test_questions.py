"""A question to a profession, on a real Synapse with real matrix-nio clients: the
post in the questions room, the invitations, a restart, an answer in the thread and
the asker's DM; then an unanswered question escalated two days later."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from nio import RoomMessageText
from sqlalchemy import select

from bot.clock import OffsetClock
from bot.config import Config, parse_config
from bot.devtools.synapse import LocalSynapse
from commands.introductions.store import ProfileStore
from commands.questions.models import QuestionInvite
from tests.integration.conftest import Accounts, BotRunner, Member, bot_config_dict
from tests.integration.test_buddy import say, wait_text

pytestmark = pytest.mark.integration


@pytest.fixture
def bot_config(synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str) -> Config:
    raw = bot_config_dict(synapse, accounts, tmp_path, tag)
    raw["flood"] = {"burst": 100, "seconds_per_command": 0.05}
    # Plain direct chats and pair rooms: these members' clients have no encryption
    # (tests/integration/test_introductions.py covers the encrypted DM).
    raw["matrix"]["encrypt_private_rooms"] = False
    raw["nudges"] = {"weekly_budget": 20, "quiet_hours": "00:00-00:00", "quiet_weekends": False}
    raw["questions"] = {"invite_count": 2, "escalate_hours": 48}
    return parse_config(raw, tmp_path / "bot.yaml", env={})


async def test_question_invitations_restart_answer_and_escalation(bot_config: Config, member_factory: Any) -> None:
    clock = OffsetClock()
    runner = BotRunner(bot_config, clock=clock)
    await runner.start()
    try:
        bob, carol, dave, erin = [await member_factory(n) for n in ("bob", "carol", "dave", "erin")]
        assert runner.app is not None
        profiles = ProfileStore(runner.app.services.db, clock)
        await profiles.save(bob.user_id, {"profession": "arbeidsdeskundige", "listed": True})
        for member in (carol, dave, erin):
            await profiles.save(member.user_id, {"profession": "bedrijfsarts", "listed": True})
        room = await bob.join(bot_config.rooms["questions"])
        reply = await say(bob, room, "!vraag BA Hoe lees ik een FML bij wisselende klachten?", "uitgenodigd")
        assert "Ik heb 2 collega's (Bedrijfsarts) uitgenodigd" in reply
        [post] = await bob.wait_for(
            lambda r, e: r == room and isinstance(e, RoomMessageText) and "Vraag aan: Bedrijfsarts" in e.body
        )
        assert bob.user_id in post.body and "wisselende klachten" in post.body

        async with runner.app.services.db.session() as session:
            chosen = set((await session.scalars(select(QuestionInvite.user_id))).all())
        invited: list[Member] = [m for m in (carol, dave, erin) if m.user_id in chosen]
        assert len(invited) == 2
        for member in invited:
            await wait_text(member, "Een collega heeft een vraag voor Bedrijfsarts")

        await runner.stop()
        await runner.start()

        # An invited member answers in the thread; the asker gets a DM.
        answerer = invited[0]
        answer_room = await answerer.join(bot_config.rooms["questions"])
        await answerer.send(
            answer_room,
            "Ik vraag eerst wat de werknemer zelf merkt op goede en slechte dagen.",
            **{"m.relates_to": {"rel_type": "m.thread", "event_id": post.event_id}},
        )
        _, told = await wait_text(bob, "heeft gereageerd op je vraag")
        assert answerer.user_id in told

        # A second question nobody answers: after two days one more round and a note.
        await say(bob, room, "!vraag bedrijfsarts Wie werkt er met een plan van aanpak bij kanker?", "uitgenodigd")
        bob_seen = len(bob.seen)
        clock.advance(timedelta(hours=49))
        for _ in range(2):
            await runner.app.services.scheduler.catch_up()
        _, note = await wait_text(bob, "nog niet gereageerd", after=bob_seen)
        assert "nog 1 andere collega uitgenodigd" in note
        overview = await say(bob, room, "!vragen open", "Open vragen")
        assert "(1 reactie)" in overview and "(nog geen reacties)" in overview
    finally:
        await runner.stop()
