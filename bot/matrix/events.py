"""Raw Matrix events (the JSON dicts) → the core's ``Incoming*`` values.

Everything here is pure: no nio objects, no I/O. Events are read from their JSON
source rather than from nio's classes, so an odd or broken event (a missing or
non-string body, an unknown msgtype, an edit) is simply not translated instead of
raising. Decisions that need the database or the room list (is this room known, was
this reaction seen) are made by the sync loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.ids import EventId, RoomId, UserId
from bot.transport import IncomingMessage, IncomingReaction, MemberJoined, StructuredCommand

_MEMBER_ENTRY = frozenset({"invite", "join"})

#: MSC4391's content block of a command sent as data (``m.bot.command`` once stable).
COMMAND_BLOCK = "org.matrix.msc4391.command"
#: Longer command names than this are no command of ours; the name is only looked up.
_MAX_COMMAND_NAME = 100


@dataclass(frozen=True)
class EventBasics:
    """The fields every room event has (or it is ignored)."""

    event_id: EventId
    type: str
    sender: UserId
    timestamp: datetime
    content: Mapping[str, Any]


@dataclass(frozen=True)
class ReactionRemoval:
    """A redaction; it is a withdrawn reaction only if ``redacts`` is a reaction we saw."""

    event_id: EventId
    sender: UserId
    redacts: EventId
    timestamp: datetime


def timestamp_of(ms: Any) -> datetime | None:
    if isinstance(ms, bool) or not isinstance(ms, int | float):
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def basics(source: Mapping[str, Any]) -> EventBasics | None:
    """The common fields, or None when any is missing or of the wrong type."""
    event_id, event_type, sender = source.get("event_id"), source.get("type"), source.get("sender")
    content = source.get("content")
    moment = timestamp_of(source.get("origin_server_ts"))
    if not (isinstance(event_id, str) and isinstance(event_type, str) and isinstance(sender, str)):
        return None
    if not isinstance(content, Mapping) or moment is None:
        return None
    return EventBasics(EventId(event_id), event_type, UserId(sender), moment, content)


def server_of(user_id: str) -> str:
    """The server part of a user id (never use this on a room id: v12 ids have none)."""
    return user_id.split(":", 1)[1] if ":" in user_id else ""


def strip_reply_fallback(body: str) -> str:
    """Drop the ``> <@user> quoted text`` lines a rich reply starts with.

    Only the spec's shape is removed: one or more leading lines starting with ``>``
    followed by an empty line. A member's own quote without that shape is kept.
    """
    lines = body.split("\n")
    quoted = 0
    while quoted < len(lines) and lines[quoted].startswith(">"):
        quoted += 1
    if quoted == 0 or quoted >= len(lines) or lines[quoted] != "":
        return body
    return "\n".join(lines[quoted + 1 :])


def _relation(content: Mapping[str, Any]) -> Mapping[str, Any]:
    rel = content.get("m.relates_to")
    return rel if isinstance(rel, Mapping) else {}


def _event_ref(value: Any) -> EventId | None:
    return EventId(value) if isinstance(value, str) and value.startswith("$") else None


def membership_change(source: Mapping[str, Any]) -> tuple[str, str | None, str | None] | None:
    """``(state_key, membership, previous membership)`` of an ``m.room.member`` event."""
    if source.get("type") != "m.room.member":
        return None
    state_key = source.get("state_key")
    content = source.get("content")
    if not isinstance(state_key, str) or not isinstance(content, Mapping):
        return None
    membership = content.get("membership")
    unsigned = source.get("unsigned")
    prev_content = unsigned.get("prev_content") if isinstance(unsigned, Mapping) else None
    prev = prev_content.get("membership") if isinstance(prev_content, Mapping) else None
    return (
        state_key,
        membership if isinstance(membership, str) else None,
        prev if isinstance(prev, str) else None,
    )


def is_own_arrival(source: Mapping[str, Any], own_user_id: str) -> bool:
    """The bot was invited to or joined the room here (not a profile change or a re-invite)."""
    change = membership_change(source)
    if change is None:
        return False
    state_key, membership, prev = change
    return state_key == own_user_id and membership in _MEMBER_ENTRY and prev not in _MEMBER_ENTRY


def history_start(sources: Sequence[Mapping[str, Any]], own_user_id: str) -> int:
    """Index of the first event after the bot's latest arrival in ``sources`` (0 if none).

    Events before the bot was invited to or joined a room are history the bot never
    saw live; the first sync after joining returns them and they must not be acted on.
    """
    start = 0
    for index, source in enumerate(sources):
        if is_own_arrival(source, own_user_id):
            start = index + 1
    return start


def mentioned_users(content: Mapping[str, Any]) -> tuple[UserId, ...]:
    """The user ids of ``m.mentions`` (intentional mentions); broken entries are dropped."""
    mentions = content.get("m.mentions")
    user_ids = mentions.get("user_ids") if isinstance(mentions, Mapping) else None
    if not isinstance(user_ids, list):
        return ()
    return tuple(UserId(u) for u in user_ids[:50] if isinstance(u, str) and u.startswith("@"))


def structured_command(content: Mapping[str, Any]) -> StructuredCommand | None:
    """The MSC4391 command block (``command`` and ``arguments``), or None when absent or
    malformed. The arguments are passed on unvalidated: the router converts them."""
    block = content.get(COMMAND_BLOCK)
    if not isinstance(block, Mapping):
        return None
    name, arguments = block.get("command"), block.get("arguments", {})
    if not isinstance(name, str) or not name.strip() or len(name) > _MAX_COMMAND_NAME:
        return None
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        return None
    return StructuredCommand(command=name, arguments=dict(arguments))


def to_message(room_id: RoomId, ev: EventBasics, is_direct: bool) -> IncomingMessage | None:
    """An ``m.text`` message; notices, emotes, files, edits and broken events give None.

    A message carrying an MSC4391 command block may leave out its ``body``.
    """
    if ev.type != "m.room.message":
        return None
    content = ev.content
    body = content.get("body")
    command = structured_command(content)
    if body is None and command is not None:
        body = ""
    if content.get("msgtype") != "m.text" or not isinstance(body, str):
        return None
    rel = _relation(content)
    if rel.get("rel_type") == "m.replace" or "m.new_content" in content:
        return None
    thread_root = _event_ref(rel.get("event_id")) if rel.get("rel_type") == "m.thread" else None
    in_reply = rel.get("m.in_reply_to")
    reply_to = _event_ref(in_reply.get("event_id")) if isinstance(in_reply, Mapping) else None
    if reply_to is not None:
        body = strip_reply_fallback(body)
    if thread_root is not None and rel.get("is_falling_back") is True:
        # In a thread, m.in_reply_to with is_falling_back is only for old clients.
        reply_to = None
    return IncomingMessage(
        event_id=ev.event_id,
        room_id=room_id,
        sender=ev.sender,
        body=body,
        timestamp=ev.timestamp,
        is_direct=is_direct,
        thread_root=thread_root,
        reply_to=reply_to,
        mentions=mentioned_users(content),
        command=command,
    )


def to_reaction(room_id: RoomId, ev: EventBasics) -> IncomingReaction | None:
    if ev.type != "m.reaction":
        return None
    rel = _relation(ev.content)
    target = _event_ref(rel.get("event_id"))
    key = rel.get("key")
    if rel.get("rel_type") != "m.annotation" or target is None or not isinstance(key, str) or not key:
        return None
    if len(key) > 64:  # the seen-reactions table keeps keys up to 64 characters
        return None
    return IncomingReaction(
        event_id=ev.event_id,
        room_id=room_id,
        sender=ev.sender,
        target_event_id=target,
        key=key,
        timestamp=ev.timestamp,
    )


def to_redaction(source: Mapping[str, Any], ev: EventBasics) -> ReactionRemoval | None:
    """A redaction (room v11+ put ``redacts`` in the content, older rooms at the top)."""
    if ev.type != "m.room.redaction":
        return None
    target = _event_ref(ev.content.get("redacts")) or _event_ref(source.get("redacts"))
    if target is None:
        return None
    return ReactionRemoval(event_id=ev.event_id, sender=ev.sender, redacts=target, timestamp=ev.timestamp)


def to_member_joined(room_id: RoomId, source: Mapping[str, Any], ev: EventBasics) -> MemberJoined | None:
    """Someone (not a profile change of an existing member) joined the room."""
    change = membership_change(source)
    if change is None:
        return None
    state_key, membership, prev = change
    if membership != "join" or prev == "join" or not state_key.startswith("@"):
        return None
    return MemberJoined(
        event_id=ev.event_id, room_id=room_id, user_id=UserId(state_key), timestamp=ev.timestamp
    )


def creators_of(create_source: Mapping[str, Any]) -> tuple[str, frozenset[str]] | None:
    """``(room_version, creators)`` from an ``m.room.create`` event."""
    if create_source.get("type") != "m.room.create":
        return None
    content = create_source.get("content")
    sender = create_source.get("sender")
    if not isinstance(content, Mapping) or not isinstance(sender, str):
        return None
    version = content.get("room_version", "1")
    extra = content.get("additional_creators")
    creators = {sender}
    if isinstance(extra, list):
        creators.update(u for u in extra if isinstance(u, str))
    return (version if isinstance(version, str) else "1"), frozenset(creators)


def creators_have_power(room_version: str) -> bool:
    """Room version 12 and later give creators unlimited power (and forbid listing them)."""
    if room_version.isascii() and room_version.isdigit():  # not "²", nor 5,000 digits for int()
        digits = room_version.lstrip("0")
        return len(digits) > 2 or int(digits or "0") >= 12
    return not room_version.startswith("org.matrix.msc3757.")
