"""A case as members meet it, on a real Synapse with real matrix-nio clients and the
real bot living at a moved time: the scheduled post appears at its time, members of
three professions reply in its thread and show in the meter, a missing profession is
invited by DM, the steps follow in the thread and a summary closes the case; a restart
in between loses and doubles nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from nio import RoomMessageNotice, RoomMessageText
from sqlalchemy import func, select

from bot.clock import OffsetClock
from bot.config import Config, parse_config
from bot.devtools.synapse import LocalSynapse
from bot.storage.models import Nudge
from commands.introductions.store import ProfileStore
from tests.integration.conftest import Accounts, BotRunner, EncryptedMember, bot_config_dict

pytestmark = pytest.mark.integration

ZONE = ZoneInfo("Europe/Amsterdam")


def next_tuesday_before_half_past_ten(now: datetime) -> datetime:
    """The coming Tuesday at 10:29 in Amsterdam, as aware UTC."""
    local = now.astimezone(ZONE)
    days = (1 - local.weekday()) % 7 or 7
    day = (local + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, 10, 29, tzinfo=ZONE).astimezone(UTC)


@pytest.fixture
def bot_config(synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str) -> Config:
    raw = bot_config_dict(synapse, accounts, tmp_path, tag)
    raw["flood"] = {"burst": 100, "seconds_per_command": 0.05}
    # The members' clients encrypt, as Element does: the welcome DMs are encrypted, and
    # the invitation written into one of them after the bot's restart must be readable
    # (it once arrived without its room key; see Crypto.prepare_send).
    raw["casus"] = {
        "schedules": {"buikpijndossiers": {"cron": "30 10 * * tue"}},
        "step_days": [2, 4],
        # Closing on day 6 keeps the summary apart from next Tuesday's new case.
        "close_days": 6,
        "invite_after_hours": 24,
        "invite_per_profession": 3,
    }
    return parse_config(raw, tmp_path / "bot.yaml", env={})


def in_thread(event: Any, root: str) -> bool:
    relates = event.source.get("content", {}).get("m.relates_to", {})
    return relates.get("rel_type") == "m.thread" and relates.get("event_id") == root


async def reply_in_thread(member: EncryptedMember, room: str, root: str, body: str) -> str:
    return await member.send(
        room,
        body,
        **{
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": root,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": root},
            }
        },
    )


async def wait_for_dm(member: EncryptedMember, text: str, timeout: float = 30) -> Any:
    """Sync, accepting the bot's DM invites, until a notice containing ``text`` arrives."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await member.sync_once(1000)
        for room_id in list(member.client.invited_rooms):
            await member.client.join(room_id)
        for _, event in member.seen:
            if isinstance(event, RoomMessageNotice) and text in event.body:
                return event
    seen = [getattr(e, "body", type(e).__name__) for _, e in member.seen][-8:]
    raise AssertionError(f"no DM with {text!r} arrived; last seen: {seen}")


async def test_a_scheduled_case_from_post_to_summary(bot_config: Config, encrypted_member_factory: Any) -> None:
    real_now = datetime.now(UTC)
    clock = OffsetClock(next_tuesday_before_half_past_ten(real_now) - real_now)
    runner = BotRunner(bot_config, clock=clock)
    await runner.start()
    try:
        theme_alias = bot_config.themes[0].room
        # Accounts of their own: the DMs the bot opens here must not meet other tests.
        bob: EncryptedMember = await encrypted_member_factory("hank")
        carol: EncryptedMember = await encrypted_member_factory("frank")
        alice: EncryptedMember = await encrypted_member_factory("gina")
        erin: EncryptedMember = await encrypted_member_factory("ivy")
        room = await bob.join(theme_alias)
        for member in (carol, alice, erin):
            await member.join(theme_alias)
        assert runner.app is not None
        profiles = ProfileStore(runner.app.services.db, clock)
        for member, profession in (
            (bob, "arbeidsdeskundige"),
            (carol, "jobcoach"),
            (alice, "bedrijfsarts"),
            (erin, "verzekeringsarts"),
        ):
            await profiles.save(
                member.user_id, {"profession": profession, "themes": ["buikpijndossiers"], "listed": True}
            )

        # Before its time nothing is posted; at 10:30 the case appears as a thread root.
        await runner.app.services.scheduler.catch_up()
        clock.advance(timedelta(minutes=1, seconds=5))
        await runner.app.services.scheduler.catch_up()
        [post] = await bob.wait_for(
            lambda r, e: r == room and isinstance(e, RoomMessageText) and "Casus:" in e.body, timeout=20
        )
        assert "Twintig maanden verder" in post.body and "Stap 1 van 3" in post.body
        root = post.event_id

        # Three professions reply in the thread; the meter shows them.
        await reply_in_thread(bob, room, root, "Ik mis de overdracht tussen de bedrijfsartsen.")
        await reply_in_thread(carol, room, root, "Op de werkvloer zou ik met een gesprek beginnen.")
        await reply_in_thread(alice, room, root, "Als bedrijfsarts zou ik eerst het dossier ordenen.")
        meter = await bob.ask(room, "!casus")
        assert "Gehoord: 1 bedrijfsarts, 1 arbeidsdeskundige, 1 jobcoach" in meter.body, meter.body
        assert "Nog niet: verzekeringsarts" in meter.body

        # The bot restarts; nothing is posted again, nothing is lost.
        await runner.stop()
        await runner.start()
        assert runner.app is not None
        await runner.app.services.scheduler.catch_up()

        # 24 hours on: the missing insurance physician is invited by DM, within the budget.
        clock.advance(timedelta(hours=24))
        await runner.app.services.scheduler.catch_up()
        await runner.app.services.scheduler.catch_up()
        invitation = await wait_for_dm(erin, "Wil je meedenken?")
        assert f"https://matrix.to/#/{room}/{root}" in invitation.body
        assert "perspectief van een verzekeringsarts" in invitation.body
        async with runner.app.services.db.session() as session:
            sent = await session.scalar(
                select(func.count())
                .select_from(Nudge)
                .where(Nudge.user_id == erin.user_id, Nudge.status == "sent")
            )
        assert sent == 1 <= bot_config.nudges.weekly_budget

        # The steps follow in the thread, then the summary.
        for days, expect in ((2, "Stap 2 van 3"), (4, "Stap 3 van 3"), (6, "Afgesloten")):
            clock.advance(
                next_tuesday_before_half_past_ten(real_now) + timedelta(days=days, minutes=2) - clock.now()
            )
            await runner.app.services.scheduler.catch_up()
            await bob.wait_for(
                lambda r, e, expect=expect: r == room and in_thread(e, root) and expect in e.body, timeout=20
            )
        summary = next(e for r, e in bob.seen if r == room and in_thread(e, root) and "Afgesloten" in e.body)
        for member in (alice, bob, carol):
            assert member.user_id in summary.body
        assert summary.source["content"]["m.mentions"] == {"user_ids": []}  # thanked, not pinged
        assert "Nog niet aan tafel: verzekeringsarts" in summary.body

        # Exactly one of each, despite the restart and the repeated catch-ups.
        await bob.sync_once(500)
        from_bot = [
            e
            for r, e in bob.seen
            if r == room and getattr(e, "sender", "") == runner.app.transport.own_user_id
        ]
        roots = [e for e in from_bot if isinstance(e, RoomMessageText) and "Casus:" in e.body]
        threaded = [e.body.split("\n")[0] for e in from_bot if in_thread(e, root)]
        assert len(roots) == 1
        assert len([t for t in threaded if "Stap 2" in t]) == 1
        assert len([t for t in threaded if "Stap 3" in t]) == 1
        assert len([t for t in threaded if "Afgesloten" in t]) == 1
        for member in (alice, bob, carol, erin):
            assert member.undecryptable() == [], member.user_id
    finally:
        await runner.stop()
