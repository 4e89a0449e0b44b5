"""Polls: counting by MSC3381's rules, whether an answer came as a poll response or as
``!stem``, the command fallback in every poll's text, and a conversation's poll question."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.app import App
from bot.clock import FakeClock
from bot.context import Context
from bot.conversations import Choice, Question
from bot.ids import EventId, RoomId, UserId
from bot.polls import StartedPoll, counted_answers, numbered
from bot.retention import prune
from bot.transport import IncomingMessage, Poll, PollEnded, PollVote
from tests.fakes import ALICE, BOB, FakeTransport, message

pytestmark = pytest.mark.both_databases

ROOM = RoomId("!welcome")
CAROL = UserId("@carol:localhost")
DATES = Poll("Welke datum past je?", numbered(["di 12 mei", "di 19 mei", "do 21 mei"]))


def test_counted_answers_follow_the_msc() -> None:
    multi = Poll("?", numbered(["a", "b", "c"]), max_selections=2)
    assert counted_answers(DATES, ["2"]) == ("2",)
    # Beyond max_selections is dropped; a repeat counts once.
    assert counted_answers(DATES, ["2", "3"]) == ("2",)
    assert counted_answers(multi, ["1", "1", "3"]) == ("1",)
    assert counted_answers(multi, ["3", "1", "2"]) == ("3", "1")
    # Any unknown answer spoils the vote: it counts as no choice.
    assert counted_answers(multi, ["1", "9"]) == ()
    assert counted_answers(DATES, []) == ()


async def _start(app: App, poll: Poll = DATES, room: RoomId = ROOM) -> StartedPoll:
    return await app.services.polls.start(
        room, poll, purpose="test.dates", ref="1", language="nl", txn_id=f"test.poll.{room}.{poll.question}"
    )


_ids = iter(range(1, 10_000))


def _response(poll: StartedPoll, sender: UserId, answers: Sequence[str], at: datetime) -> PollVote:
    return PollVote(
        event_id=EventId(f"$vote{next(_ids)}"),
        room_id=poll.room_id,
        sender=sender,
        poll_event_id=poll.event_id,
        answer_ids=tuple(answers),
        timestamp=at,
        backlog=True,
    )


def _typed(body: str, sender: UserId, at: datetime, reply_to: EventId | None = None) -> IncomingMessage:
    return dataclasses.replace(
        message(body, sender=sender, room=str(ROOM), at=at, backlog=True), reply_to=reply_to
    )


async def test_the_poll_text_states_the_command_fallback(app: App, transport: FakeTransport) -> None:
    poll = await _start(app)
    room, sent_poll, event_id = transport.polls[-1]
    assert (room, event_id) == (ROOM, poll.event_id)
    assert [a.id for a in sent_poll.answers] == ["1", "2", "3"]
    text = transport.last()
    assert "Welke datum past je?" in text and "2. di 19 mei" in text and "`!stem 2`" in text


async def test_a_changed_vote_counts_once_and_latest_wins(app: App, clock: FakeClock) -> None:
    poll = await _start(app)
    t0 = clock.now()
    await app.router.dispatch(_response(poll, BOB, ["1"], t0))
    await app.router.dispatch(_typed("!stem 3", BOB, t0 + timedelta(seconds=5)))
    await app.router.dispatch(_response(poll, CAROL, ["3"], t0 + timedelta(seconds=6)))
    tally = await app.services.polls.tally(poll)
    assert tally.counts == {"1": 0, "2": 0, "3": 2} and tally.voters == 2
    # An older answer arriving late (from a filled gap) changes nothing.
    await app.router.dispatch(_response(poll, BOB, ["2"], t0 + timedelta(seconds=1)))
    assert (await app.services.polls.tally(poll)).counts == {"1": 0, "2": 0, "3": 2}
    # A spoiled vote (an unknown answer) is the latest and counts as no choice.
    await app.router.dispatch(_response(poll, CAROL, ["9"], t0 + timedelta(seconds=9)))
    tally = await app.services.polls.tally(poll)
    assert tally.counts == {"1": 0, "2": 0, "3": 1} and tally.voters == 1


async def test_a_replayed_response_is_one_vote(app: App, clock: FakeClock) -> None:
    poll = await _start(app)
    vote = _response(poll, BOB, ["2"], clock.now())
    await app.router.dispatch(vote)
    await app.router.dispatch(vote)
    assert (await app.services.polls.tally(poll)).counts["2"] == 1


async def test_stem_reacts_and_refuses_what_is_no_answer(
    app: App, transport: FakeTransport, clock: FakeClock
) -> None:
    await _start(app)
    await app.router.dispatch(_typed("!stem 2", BOB, clock.now()))
    assert transport.reactions[-1][2] == "✅"
    await app.router.dispatch(_typed("!vote 7", BOB, clock.now()))
    assert "`7` is geen keuze" in transport.last()
    await app.router.dispatch(_typed("!stem 1 2", BOB, clock.now()))
    assert "hoogstens één keuze" in transport.last()


async def test_stem_without_a_poll_says_so(app: App, transport: FakeTransport, clock: FakeClock) -> None:
    await app.router.dispatch(_typed("!stem 1", BOB, clock.now()))
    assert "geen peiling" in transport.last()


async def test_a_reply_picks_the_poll_and_the_newest_is_the_default(app: App, clock: FakeClock) -> None:
    first = await _start(app)
    clock.advance(timedelta(minutes=1))
    second = await _start(app, Poll("Welke tijd?", numbered(["ochtend", "middag"])))
    await app.router.dispatch(_typed("!stem 1", BOB, clock.now(), reply_to=first.event_id))
    await app.router.dispatch(_typed("!stem 2", CAROL, clock.now()))
    assert (await app.services.polls.tally(first)).counts == {"1": 1, "2": 0, "3": 0}
    assert (await app.services.polls.tally(second)).counts == {"1": 0, "2": 1}


async def test_ending_posts_the_result_and_later_votes_are_ignored(
    app: App, transport: FakeTransport, clock: FakeClock
) -> None:
    poll = await _start(app)
    await app.router.dispatch(_response(poll, BOB, ["2"], clock.now()))
    await app.router.dispatch(_response(poll, CAROL, ["2"], clock.now()))
    tally = await app.services.polls.end(poll, txn_id="test.end")
    assert [a.text for a in tally.leaders()] == ["di 19 mei"]
    room, ended, result, counts = transport.poll_ends[-1]
    assert (room, ended, counts) == (ROOM, poll.event_id, {"1": 0, "2": 2, "3": 0})
    assert (
        "gesloten" in result and "2. di 19 mei: 2 stemmen" in result and "Meeste stemmen: di 19 mei" in result
    )
    late = clock.now() + timedelta(minutes=1)
    await app.router.dispatch(_response(poll, BOB, ["1"], late))
    assert (await app.services.polls.tally(poll)).counts == {"1": 0, "2": 2, "3": 0}
    clock.advance(timedelta(minutes=2))
    await app.router.dispatch(_typed("!stem 1", BOB, clock.now(), reply_to=poll.event_id))
    assert "al gesloten" in transport.last()


async def test_only_a_moderator_ends_a_poll_from_their_client(
    app: App, transport: FakeTransport, clock: FakeClock
) -> None:
    poll = await _start(app)
    for sender in (BOB, ALICE):
        await app.router.dispatch(
            PollEnded(EventId(f"$end{next(_ids)}"), ROOM, sender, poll.event_id, clock.now())
        )
        ended = await app.services.polls.get(poll.event_id)
        assert ended is not None
        assert ended.is_open is (sender == BOB)
    assert len(transport.poll_ends) == 1


async def test_votes_are_exported_and_erased(app: App, clock: FakeClock) -> None:
    poll = await _start(app)
    await app.router.dispatch(_response(poll, BOB, ["3"], clock.now()))
    await app.router.dispatch(_response(poll, CAROL, ["1"], clock.now()))
    exported = await app.services.privacy.export_all(BOB)
    assert exported["core.ballots"]["votes"] == [
        {"question": "Welke datum past je?", "answers": ["do 21 mei"], "voted_at": clock.now().isoformat()}
    ]
    removed = await app.services.privacy.erase_all(BOB)
    assert removed["core.ballots"] == 1
    assert (await app.services.privacy.export_all(BOB))["core.ballots"] == {}
    assert (await app.services.polls.tally(poll)).counts == {"1": 1, "2": 0, "3": 0}


class RatingFlow:
    """One question asked as a poll, then a free one."""

    name = "test.rating"

    def __init__(self) -> None:
        self.finished: list[dict[str, Any]] = []

    def questions(self, answers: dict[str, Any]) -> Sequence[Question]:
        return [
            Question(
                "language",
                "core.help.taal.summary",
                choices=(
                    Choice("nl", label_key="core.language.name_nl"),
                    Choice("en", label_key="core.language.name_en"),
                ),
                poll=True,
            ),
            Question("note", "core.help.help.summary", optional=True),
        ]

    async def finish(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        self.finished.append(answers)


DM = RoomId("!dm-bob")


async def _rating(app: App) -> RatingFlow:
    flow = RatingFlow()
    app.services.conversations.register(flow)
    ctx = Context(app.services, message("!x", room=DM, is_direct=True), "nl")
    await app.services.conversations.start(ctx, flow.name, DM)
    return flow


@pytest.mark.parametrize("how", ["poll", "typed", "stem"])
async def test_a_conversation_question_asked_as_a_poll(
    app: App, transport: FakeTransport, clock: FakeClock, how: str
) -> None:
    flow = await _rating(app)
    room, poll, event_id = transport.polls[-1]
    assert room == DM and [a.text for a in poll.answers] == ["Nederlands", "Engels"]
    assert "Vraag 1 van 2" in transport.last() and "`!stem 2`" in transport.last()
    now = datetime.now(UTC)
    if how == "poll":
        started = await app.services.polls.get(event_id)
        assert started is not None
        await app.router.dispatch(_response(started, BOB, ["2"], now))
    else:
        body = "2" if how == "typed" else "!stem 2"
        await app.router.dispatch(message(body, room=DM, is_direct=True))
    assert "Vraag 2 van 2" in transport.last()
    await app.router.dispatch(message("overslaan", room=DM, is_direct=True))
    assert flow.finished == [{"language": "en"}]


async def test_a_vote_on_a_question_already_answered_changes_nothing(
    app: App, transport: FakeTransport
) -> None:
    flow = await _rating(app)
    _, _, event_id = transport.polls[-1]
    started = await app.services.polls.get(event_id)
    assert started is not None
    await app.router.dispatch(message("1", room=DM, is_direct=True))
    asked = len(transport.sent)
    await app.router.dispatch(_response(started, BOB, ["2"], datetime.now(UTC)))
    assert len(transport.sent) == asked
    await app.router.dispatch(message("overslaan", room=DM, is_direct=True))
    assert flow.finished == [{"language": "nl"}]


async def test_old_polls_and_their_votes_are_pruned(app: App, clock: FakeClock) -> None:
    closed = await _start(app)
    await app.router.dispatch(_response(closed, BOB, ["1"], clock.now()))
    await app.services.polls.end(closed, txn_id="test.end.old")
    clock.advance(timedelta(days=30))
    never_closed = await _start(app, Poll("Thee?", numbered(["ja", "nee"])))
    await app.router.dispatch(_response(never_closed, BOB, ["1"], clock.now()))
    clock.advance(timedelta(days=61))  # the closed one is 91 days past its end
    assert (await prune(app.services.db, clock.now())).polls == 1
    assert await app.services.polls.get(closed.event_id) is None
    assert (await app.services.privacy.export_all(BOB))["core.ballots"]["votes"][0]["question"] == "Thee?"
    clock.advance(timedelta(days=340))  # the open one is over a year old
    assert (await prune(app.services.db, clock.now())).polls == 1
    assert (await app.services.privacy.export_all(BOB))["core.ballots"] == {}


async def test_poll_responses_are_flood_limited_like_reactions(app: App, clock: FakeClock) -> None:
    poll = await _start(app)
    burst = app.services.config.flood.burst
    # Live responses (not the catch-up after a restart), one answer each, all at once:
    # the ones past the member's burst are dropped, so the answer of the last one that
    # got through stands.
    for n in range(burst + 5):
        answer = "2" if n < burst else "3"
        vote = _response(poll, BOB, [answer], clock.now() + timedelta(milliseconds=n))
        await app.router.dispatch(dataclasses.replace(vote, backlog=False))
    assert (await app.services.polls.tally(poll)).counts == {"1": 0, "2": 1, "3": 0}
