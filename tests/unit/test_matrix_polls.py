"""MSC3381 on Matrix, as JSON: the poll start and end the bot sends, and the responses
and ends it reads (Element's unstable shape, the stable one, and broken ones)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.ids import EventId, RoomId
from bot.matrix import events, polls
from bot.polls import numbered
from bot.transport import Poll, PollEnded, PollVote

ROOM = RoomId("!kamer")
POLL_ID = "$poll"
REF = {"rel_type": "m.reference", "event_id": POLL_ID}


def parsed(event_type: str, content: Any) -> Any:
    ev = events.basics(
        {
            "event_id": "$r1",
            "type": event_type,
            "sender": "@lid:localhost",
            "origin_server_ts": 1_700_000_000_000,
            "content": content,
        }
    )
    assert ev is not None
    return polls.to_poll_event(ROOM, ev)


def test_the_start_carries_both_shapes_and_a_fallback() -> None:
    poll = Poll("Koffie of thee?", numbered(["koffie", "thee"]), disclosed=False, max_selections=5)
    content = polls.start_content(poll, "Koffie of thee?\n1. koffie\n2. thee\n!stem 2", "<b>Koffie</b>")
    unstable = content["org.matrix.msc3381.poll.start"]
    assert unstable["kind"] == "org.matrix.msc3381.poll.undisclosed"
    assert unstable["max_selections"] == 2  # never more than there are answers
    assert unstable["answers"] == [
        {"id": "1", "org.matrix.msc1767.text": "koffie"},
        {"id": "2", "org.matrix.msc1767.text": "thee"},
    ]
    assert content["org.matrix.msc1767.text"] == content["body"] and "!stem 2" in content["body"]
    stable = content["m.poll"]
    assert stable["kind"] == "m.undisclosed" and stable["answers"][1]["m.id"] == "2"
    assert content["m.text"][0] == {"mimetype": "text/html", "body": "<b>Koffie</b>"}


def test_the_end_refers_to_the_start_with_the_result() -> None:
    content = polls.end_content(EventId(POLL_ID), "Gesloten: thee", {"1": 0, "2": 3})
    assert content["m.relates_to"] == REF and content["org.matrix.msc3381.poll.end"] == {}
    assert content["org.matrix.msc1767.text"] == "Gesloten: thee" and content["m.poll.results"]["2"] == 3


@pytest.mark.parametrize(
    ("event_type", "content", "answers"),
    [
        (
            "org.matrix.msc3381.poll.response",
            {"m.relates_to": REF, "org.matrix.msc3381.poll.response": {"answers": ["2"]}},
            ("2",),
        ),
        ("m.poll.response", {"m.relates_to": REF, "m.selections": ["1", "2"]}, ("1", "2")),
        ("m.poll.response", {"m.relates_to": REF, "m.selections": []}, ()),
        # A selection that is no string spoils the vote: kept as an id no poll has.
        ("m.poll.response", {"m.relates_to": REF, "m.selections": [2]}, ("",)),
    ],
)
def test_responses_in_either_shape(event_type: str, content: Any, answers: tuple[str, ...]) -> None:
    vote = parsed(event_type, content)
    assert isinstance(vote, PollVote)
    assert (vote.poll_event_id, vote.answer_ids, vote.room_id) == (POLL_ID, answers, ROOM)


@pytest.mark.parametrize(
    "content",
    [
        {"org.matrix.msc3381.poll.response": {"answers": ["1"]}},  # no relation
        {
            "m.relates_to": {"rel_type": "m.annotation", "event_id": POLL_ID, "key": "1"},
            "m.selections": ["1"],
        },
        {"m.relates_to": {"rel_type": "m.reference", "event_id": "nope"}, "m.selections": ["1"]},
        {"m.relates_to": REF, "org.matrix.msc3381.poll.response": {"answers": "1"}},
        {"m.relates_to": REF},
        {"m.relates_to": "x", "m.selections": ["1"]},
    ],
)
def test_broken_responses_are_no_vote(content: Any) -> None:
    assert parsed("org.matrix.msc3381.poll.response", content) is None


def test_ends_are_read_and_other_events_are_not_poll_events() -> None:
    ended = parsed("org.matrix.msc3381.poll.end", {"m.relates_to": REF, "org.matrix.msc3381.poll.end": {}})
    assert isinstance(ended, PollEnded) and ended.poll_event_id == POLL_ID
    assert polls.is_poll_event("m.poll.end") and not polls.is_poll_event("org.matrix.msc3381.poll.start")
    assert parsed("m.room.message", {"m.relates_to": REF, "m.selections": ["1"]}) is None
