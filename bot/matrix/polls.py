"""Polls on Matrix (MSC3381): the events the bot sends and the responses it reads.

matrix-nio has no poll types, so the events are built and read as JSON here. What
clients send today is the MSC's *unstable* shape (Element Web, Element X and FluffyChat
send ``org.matrix.msc3381.poll.*`` with single-string ``org.matrix.msc1767.text``
fields); a client following the stable text sends ``m.poll.*`` with ``m.text`` lists,
``m.id`` and ``m.selections``. The bot sends the unstable event type with both shapes in
its content (receivers ignore blocks they do not know) and reads both.

Pure: no nio objects, no I/O. A response nio decrypted arrives as the plain event it
was (nio parses it as an ``UnknownEvent`` whose source carries the decrypted type and
content under the encrypted event's id), so encrypted rooms need nothing extra.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.ids import EventId, RoomId
from bot.matrix.events import EventBasics
from bot.transport import POLL_MAX_ANSWERS, Poll, PollEnded, PollVote

UNSTABLE_START = "org.matrix.msc3381.poll.start"
#: The type the bot sends its polls as: what the clients that render polls read today.
START_TYPE = UNSTABLE_START
UNSTABLE_RESPONSE = "org.matrix.msc3381.poll.response"
UNSTABLE_END = "org.matrix.msc3381.poll.end"
UNSTABLE_TEXT = "org.matrix.msc1767.text"
RESPONSE_TYPES = frozenset({UNSTABLE_RESPONSE, "m.poll.response"})
END_TYPES = frozenset({UNSTABLE_END, "m.poll.end"})
HTML = "text/html"
#: Answer ids longer than this are no answer of ours (ours are "1" … "20").
_MAX_ID = 64


def _stable_text(plain: str, html: str | None = None) -> list[dict[str, str]]:
    """An ``m.text`` block: representations, the preferred one first."""
    block = [{"mimetype": HTML, "body": html}] if html else []
    return [*block, {"mimetype": "text/plain", "body": plain}]


def start_content(poll: Poll, fallback_text: str, fallback_html: str | None = None) -> dict[str, Any]:
    """The content of a poll start: the unstable block clients render, the stable one
    for clients of the final MSC, and the text fallback (``body`` too, for clients that
    show any event with a body)."""
    answers = poll.answers[:POLL_MAX_ANSWERS]
    kind = "disclosed" if poll.disclosed else "undisclosed"
    max_selections = max(1, min(poll.max_selections, len(answers)))
    content: dict[str, Any] = {
        UNSTABLE_TEXT: fallback_text,
        "body": fallback_text,
        UNSTABLE_START: {
            "kind": f"org.matrix.msc3381.poll.{kind}",
            "max_selections": max_selections,
            "question": {UNSTABLE_TEXT: poll.question, "body": poll.question, "msgtype": "m.text"},
            "answers": [{"id": a.id, UNSTABLE_TEXT: a.text} for a in answers],
        },
        "m.text": _stable_text(fallback_text, fallback_html),
        "m.poll": {
            "kind": f"m.{kind}",
            "max_selections": max_selections,
            "question": {"m.text": _stable_text(poll.question)},
            "answers": [{"m.id": a.id, "m.text": _stable_text(a.text)} for a in answers],
        },
        # Nobody is pinged by a poll.
        "m.mentions": {},
    }
    return content


def end_content(poll_event_id: EventId, result_text: str, counts: Mapping[str, int]) -> dict[str, Any]:
    """The content of a poll end, referring to its start, with the result as its text."""
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll_event_id},
        UNSTABLE_END: {},
        UNSTABLE_TEXT: result_text,
        "body": result_text,
        "m.text": _stable_text(result_text),
        "m.poll.results": {answer_id: int(n) for answer_id, n in counts.items()},
        "m.mentions": {},
    }


def _poll_reference(content: Mapping[str, Any]) -> EventId | None:
    rel = content.get("m.relates_to")
    if not isinstance(rel, Mapping) or rel.get("rel_type") != "m.reference":
        return None
    target = rel.get("event_id")
    return EventId(target) if isinstance(target, str) and target.startswith("$") else None


def _selections(content: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The answer ids of a response in either shape; None when it carries neither.

    A selection that is no string spoils the vote (the MSC: any unknown answer does),
    so it is kept as an empty id, which no poll has.
    """
    block = content.get(UNSTABLE_RESPONSE)
    chosen = block.get("answers") if isinstance(block, Mapping) else None
    if chosen is None:
        chosen = content.get("m.selections")
    if not isinstance(chosen, list):
        return None
    return tuple(
        a if isinstance(a, str) and len(a) <= _MAX_ID else "" for a in chosen[: POLL_MAX_ANSWERS + 1]
    )


def to_poll_vote(room_id: RoomId, ev: EventBasics) -> PollVote | None:
    """A poll response (either name, either shape), or None when it is none."""
    if ev.type not in RESPONSE_TYPES:
        return None
    target = _poll_reference(ev.content)
    answers = _selections(ev.content)
    if target is None or answers is None:
        return None
    return PollVote(
        event_id=ev.event_id,
        room_id=room_id,
        sender=ev.sender,
        poll_event_id=target,
        answer_ids=answers,
        timestamp=ev.timestamp,
    )


def to_poll_end(room_id: RoomId, ev: EventBasics) -> PollEnded | None:
    if ev.type not in END_TYPES:
        return None
    target = _poll_reference(ev.content)
    if target is None:
        return None
    return PollEnded(
        event_id=ev.event_id, room_id=room_id, sender=ev.sender, poll_event_id=target, timestamp=ev.timestamp
    )


def to_poll_event(room_id: RoomId, ev: EventBasics) -> PollVote | PollEnded | None:
    """What a member's poll event means to the core (None for anything else)."""
    return to_poll_vote(room_id, ev) or to_poll_end(room_id, ev)


def is_poll_event(event_type: str) -> bool:
    return event_type in RESPONSE_TYPES or event_type in END_TYPES
