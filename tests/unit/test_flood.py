"""Flood control: a member hammering the bot is told once to slow down; others are not
held up, and plain chat costs nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.app import App
from bot.clock import FakeClock
from bot.flood import FloodLimiter, Verdict
from bot.ids import EventId, RoomId, UserId
from bot.router import GLOBAL_FLOOD_FACTOR
from bot.transport import IncomingReaction
from tests.fakes import ALICE, BOB, FakeTransport, message

# The probe command is !taal: one short answer in the room (!help in a room also sends the DM).
SLOW_DOWN_NL = "Even rustig aan"


def slow_downs(transport: FakeTransport) -> list[str]:
    return [t for t in transport.texts() if t.startswith(SLOW_DOWN_NL)]


async def test_thirty_commands_in_ten_seconds_give_one_notice(
    app: App, transport: FakeTransport, clock: FakeClock
) -> None:
    limiter = app.router.flood
    bob_answers = 0
    alice_answered = False
    for n in range(30):
        before = len(transport.sent)
        await app.router.dispatch(message("!taal", sender=BOB, at=clock.now()))
        bob_answers += sum(1 for t in transport.texts()[before:] if not t.startswith(SLOW_DOWN_NL))
        if n == 20:  # another member, in the middle of the flood
            before = len(transport.sent)
            await app.router.dispatch(message("!taal", sender=ALICE, at=clock.now()))
            alice_answered = len(transport.sent) == before + 1 and "!taal" in transport.last()
        clock.advance(timedelta(seconds=1 / 3))
    elapsed = 29 / 3
    assert len(slow_downs(transport)) == 1
    assert bob_answers <= limiter.capacity + int(elapsed / limiter.refill_seconds)
    assert bob_answers >= limiter.capacity
    assert alice_answered

    clock.advance(timedelta(seconds=limiter.capacity * limiter.refill_seconds))
    before = len(transport.sent)
    await app.router.dispatch(message("!taal", sender=BOB, at=clock.now()))
    assert len(transport.sent) == before + 1 and "!taal" in transport.last()


async def test_the_notice_is_in_the_members_language(
    app: App, transport: FakeTransport, clock: FakeClock
) -> None:
    await app.router.dispatch(message("!taal en", at=clock.now()))
    for _ in range(app.router.flood.capacity + 3):
        await app.router.dispatch(message("!taal", at=clock.now()))
    notices = [t for t in transport.texts() if t.startswith("Let's slow down")]
    assert len(notices) == 1
    assert transport.sent[-1].notice


async def test_plain_room_chat_costs_nothing(app: App, transport: FakeTransport, clock: FakeClock) -> None:
    for _ in range(50):
        await app.router.dispatch(message("hallo allemaal", at=clock.now()))
    await app.router.dispatch(message("!taal", at=clock.now()))
    assert transport.sent and "!taal" in transport.last()
    assert slow_downs(transport) == []


async def test_direct_messages_count(app: App, transport: FakeTransport, clock: FakeClock) -> None:
    for _ in range(app.router.flood.capacity + 5):
        await app.router.dispatch(message("help", room="!dm-bob", is_direct=True, at=clock.now()))
    assert len(slow_downs(transport)) == 1
    assert len(transport.sent) == app.router.flood.capacity + 1


# -- the limiter on its own ---------------------------------------------------------


@pytest.fixture
def still() -> FakeClock:
    return FakeClock(datetime(2027, 3, 16, 9, 0, tzinfo=UTC))


def test_a_burst_up_to_capacity_is_allowed(still: FakeClock) -> None:
    limiter = FloodLimiter(still, capacity=3, refill_seconds=2)
    assert [limiter.check("@a:x") for _ in range(5)] == [
        Verdict.ALLOW,
        Verdict.ALLOW,
        Verdict.ALLOW,
        Verdict.NOTIFY,
        Verdict.DROP,
    ]


def test_tokens_come_back_without_a_second_notice(still: FakeClock) -> None:
    limiter = FloodLimiter(still, capacity=2, refill_seconds=2)
    assert [limiter.check("@a:x") for _ in range(3)] == [Verdict.ALLOW, Verdict.ALLOW, Verdict.NOTIFY]
    still.advance(timedelta(seconds=2))
    assert limiter.check("@a:x") is Verdict.ALLOW  # one token back
    assert limiter.check("@a:x") is Verdict.DROP  # still the same episode: no new notice


def test_a_new_episode_after_calming_down_notifies_again(still: FakeClock) -> None:
    limiter = FloodLimiter(still, capacity=2, refill_seconds=2)
    for _ in range(3):
        limiter.check("@a:x")
    still.advance(timedelta(seconds=4))  # full again
    assert [limiter.check("@a:x") for _ in range(4)] == [
        Verdict.ALLOW,
        Verdict.ALLOW,
        Verdict.NOTIFY,
        Verdict.DROP,
    ]


def test_senders_have_their_own_buckets(still: FakeClock) -> None:
    limiter = FloodLimiter(still, capacity=1, refill_seconds=10)
    assert limiter.check("@a:x") is Verdict.ALLOW
    assert limiter.check("@a:x") is Verdict.NOTIFY
    assert limiter.check("@b:x") is Verdict.ALLOW


def test_a_clock_set_back_neither_gives_nor_takes(still: FakeClock) -> None:
    limiter = FloodLimiter(still, capacity=1, refill_seconds=1)
    assert limiter.check("@a:x") is Verdict.ALLOW
    still.advance(timedelta(hours=-1))
    assert limiter.check("@a:x") is Verdict.NOTIFY
    still.advance(timedelta(hours=1, seconds=1))
    assert limiter.check("@a:x") is Verdict.ALLOW


def test_memory_is_bounded(still: FakeClock) -> None:
    limiter = FloodLimiter(still, capacity=2, refill_seconds=60, max_senders=100)
    for n in range(1_000):
        limiter.check(f"@u{n}:x")
    assert len(limiter) == 100
    # The most recent senders are the ones remembered.
    assert limiter.check("@u999:x") is Verdict.ALLOW
    assert limiter.check("@u999:x") is Verdict.NOTIFY


def test_idle_senders_are_forgotten(still: FakeClock) -> None:
    limiter = FloodLimiter(still, capacity=2, refill_seconds=1)
    for n in range(10):
        limiter.check(f"@u{n}:x")
    assert len(limiter) == 10
    still.advance(timedelta(seconds=5))
    for _ in range(5):
        limiter.check("@active:x")
    assert len(limiter) == 1


def test_numbers_must_be_positive(still: FakeClock) -> None:
    with pytest.raises(ValueError):
        FloodLimiter(still, capacity=0)
    with pytest.raises(ValueError):
        FloodLimiter(still, refill_seconds=0)


async def test_the_backlog_after_a_restart_is_not_a_flood(
    app: App, transport: FakeTransport, clock: FakeClock
) -> None:
    # Twenty commands sent while the bot was down arrive in one go (the transport marks
    # the catch-up as backlog): all are answered.
    while_down = clock.now() - timedelta(minutes=2)
    for n in range(20):
        await app.router.dispatch(
            message("!taal", sender=BOB, at=while_down + timedelta(seconds=n), backlog=True)
        )
    assert slow_downs(transport) == []
    assert len(transport.sent) == 20


async def test_an_old_timestamp_on_a_live_message_is_no_way_around_the_limit(
    app: App, transport: FakeTransport, clock: FakeClock
) -> None:
    # A sender (or their server) can write any timestamp; what counts is when it came in.
    long_ago = clock.now() - timedelta(days=3)
    for _ in range(20):
        await app.router.dispatch(message("!taal", sender=BOB, at=long_ago, backlog=False))
    assert len(slow_downs(transport)) == 1
    assert len(transport.sent) == app.services.config.flood.burst + 1


async def test_reactions_are_flood_limited_like_commands(app: App, clock: FakeClock) -> None:
    seen: list[str] = []

    async def on_reaction(reaction: IncomingReaction) -> None:
        seen.append(reaction.event_id)

    app.services.registry._listeners[IncomingReaction] = [on_reaction]  # this test's only listener
    for n in range(50):
        await app.router.dispatch(
            IncomingReaction(
                event_id=EventId(f"$r{n}"),
                room_id=RoomId("!events"),
                sender=BOB,
                target_event_id=EventId("$card"),
                key="✅",
                timestamp=clock.now(),
                removed=bool(n % 2),
            )
        )
    assert len(seen) == app.services.config.flood.burst


async def test_many_members_together_meet_the_global_limit(
    app: App, transport: FakeTransport, clock: FakeClock
) -> None:
    burst = app.services.config.flood.burst
    senders = [UserId(f"@lid{n}:localhost") for n in range(burst * GLOBAL_FLOOD_FACTOR + 20)]
    for sender in senders:  # one command each: no member is over their own limit
        await app.router.dispatch(message("!taal", sender=sender, at=clock.now()))
    assert len(transport.sent) == burst * GLOBAL_FLOOD_FACTOR
    assert slow_downs(transport) == []
