"""The member's digest on a real Synapse with real matrix-nio clients: a member who
opted in receives a correct digest on Monday morning after activity in several
features (the bot's clock moved), an upcoming event for their profession among them; a
member with an empty week receives nothing. The
reply between two professions in a theme room is counted for the organisers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from nio import RoomMessageNotice, RoomMessageText
from sqlalchemy import select

from bot.clock import OffsetClock
from bot.config import Config, parse_config
from bot.devtools.synapse import LocalSynapse
from commands.events.feature import Events
from commands.events.store import ANNOUNCED, NewEvent
from commands.introductions.store import ProfileStore
from commands.stats.models import StatsInteraction
from tests.integration.conftest import Accounts, BotRunner, Member, bot_config_dict, open_dm
from tests.integration.test_buddy import say, wait_text

pytestmark = pytest.mark.integration

DIGEST_TITLE = "Je overzicht van Kennisbrug"


@pytest.fixture
def bot_config(synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str) -> Config:
    raw = bot_config_dict(synapse, accounts, tmp_path, tag)
    raw["flood"] = {"burst": 100, "seconds_per_command": 0.05}
    raw["matrix"]["encrypt_private_rooms"] = False
    raw["nudges"] = {"weekly_budget": 20, "quiet_hours": "00:00-00:00", "quiet_weekends": False}
    return parse_config(raw, tmp_path / "bot.yaml", env={})


def until_next_monday_0831(now: datetime) -> timedelta:
    local = now.astimezone(ZoneInfo("Europe/Amsterdam"))
    days = (7 - local.weekday()) % 7 or 7
    target = (local + timedelta(days=days)).replace(hour=8, minute=31, second=0, microsecond=0)
    return target.astimezone(UTC) - now


def digests(member: Member) -> list[str]:
    return [
        str(e.body)
        for _, e in member.seen
        if isinstance(e, RoomMessageNotice | RoomMessageText) and DIGEST_TITLE in e.body
    ]


async def test_a_member_gets_a_correct_digest_and_an_empty_week_sends_nothing(
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
        await profiles.save(carol.user_id, {"profession": "bedrijfsarts", "listed": True})
        await profiles.save(dave.user_id, {"profession": "jobcoach", "listed": True})

        # Carol and Dave opt in, each in their own direct chat with the bot.
        carol_dm = await open_dm(carol, bot_config.matrix.user_id)
        dave_dm = await open_dm(dave, bot_config.matrix.user_id)
        assert "elke maandag" in await say(carol, carol_dm, "!digest aan", "Genoteerd")
        assert "elke maandag" in await say(dave, dave_dm, "!digest on", "Genoteerd")

        # Activity: Bob asks the physicians a question ...
        questions = await bob.join(bot_config.rooms["questions"])
        await say(bob, questions, "!vraag BA Hoe lees ik een FML bij wisselende klachten?", "vragenruimte")
        # ... and answers Carol in the theme room: a reply across two professions.
        theme = await carol.join(bot_config.themes[0].room)
        await bob.join(bot_config.themes[0].room)
        carol_post = await carol.send(
            theme, "Wie herkent een casus waarin het spoor-2-traject te laat begon?"
        )
        await bob.send(
            theme,
            "Ja, bij ons ook: de arbeidsdeskundige kwam pas in maand 20 in beeld.",
            **{"m.relates_to": {"m.in_reply_to": {"event_id": carol_post}}},
        )
        rows: list[StatsInteraction] = []
        for _ in range(50):
            async with runner.app.services.db.session() as session:
                rows = list((await session.scalars(select(StatsInteraction))).all())
            if rows:
                break
            await bob.sync_once(200)
        assert [(r.from_profession, r.to_profession, r.room_kind, r.count) for r in rows] == [
            ("arbeidsdeskundige", "bedrijfsarts", "theme", 1)
        ]

        # An event for job coaches on the Wednesday after the digest, nobody answered yet.
        events = next(f for f in runner.app.features if isinstance(f, Events))
        starts = clock.now() + until_next_monday_0831(clock.now()) + timedelta(days=2)
        [event] = await events.store.create(
            [
                NewEvent(
                    "Intervisie voor jobcoaches",
                    starts,
                    starts + timedelta(hours=2),
                    "online",
                    audience=("jobcoach",),
                )
            ],
            "@organiser:localhost",
            ANNOUNCED,
        )

        # Monday 08:31, community time: the weekly job runs.
        clock.advance(until_next_monday_0831(clock.now()))
        for _ in range(3):
            await runner.app.services.scheduler.catch_up()
        _, body = await wait_text(carol, DIGEST_TITLE)
        assert "Open vragen aan Bedrijfsarts" in body
        assert "wisselende klachten" in body
        assert "Nieuwe leden uit andere beroepen" in body and bob.user_id in body
        assert "Buddyverzoeken" not in body  # an empty section is left out
        assert "Intervisie voor jobcoaches" not in body  # not for physicians
        _, dave_body = await wait_text(dave, DIGEST_TITLE)
        assert "Open vragen" not in dave_body  # the question was not for job coaches
        assert "Bijeenkomsten waar je nog niet op reageerde" in dave_body
        assert "Intervisie voor jobcoaches" in dave_body and f"!aanmelden {event.id}" in dave_body

        # Two weeks on: nothing new for Dave (the newcomers are old news), so he gets
        # nothing; Carol's question is still open, so she gets one more.
        clock.advance(timedelta(days=14))
        for _ in range(3):
            await runner.app.services.scheduler.catch_up()
        await wait_text(carol, DIGEST_TITLE, after=len(carol.seen))
        for _ in range(3):
            await dave.sync_once(500)
        assert len(digests(dave)) == 1
        assert len(digests(carol)) == 2
    finally:
        await runner.stop()
