"""What the chat knows of each room: messages in order, with their edits, reactions,
thread replies and files. Built from raw event dictionaries (``event.source``), so the
same code serves live events and history, and is tested without a homeserver."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bot.devtools.chat.content import POLL_TYPES

Kind = Literal["text", "notice", "emote", "file", "poll", "undecryptable", "redacted", "system"]
FILE_TYPES = frozenset({"m.file", "m.image", "m.audio", "m.video"})
RoomKind = Literal["community", "dm", "other"]


@dataclass
class Message:
    event_id: str
    sender: str
    number: int  # short and per room, so a person can type it (/react 3 ✅)
    kind: Kind
    content: dict[str, Any]
    ts: int
    thread_root: str | None = None
    reply_to: str | None = None
    edited: bool = False
    reactions: dict[str, set[str]] = field(default_factory=dict)
    file_state: Literal["saving", "saved", "failed"] | None = None
    file_path: Path | None = None
    lines: tuple[str, ...] = ()  # a system notice's own text


@dataclass
class Change:
    """What an event did: the message it added or changed, and whether it is new."""

    message: Message
    new: bool


def relation(content: Mapping[str, Any]) -> Mapping[str, Any]:
    rel = content.get("m.relates_to")
    return rel if isinstance(rel, Mapping) else {}


@dataclass
class Room:
    room_id: str
    label: str
    kind: RoomKind
    order: int  # the place in the room list
    messages: list[Message] = field(default_factory=list)
    by_id: dict[str, Message] = field(default_factory=dict)
    unread: int = 0
    _reactions: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # id -> (target, key, sender)
    _numbers: int = 0

    def find(self, number: int) -> Message | None:
        return next((m for m in self.messages if m.number == number and m.kind != "system"), None)

    def replies(self, root: Message, notes: bool = False) -> list[Message]:
        """The thread's replies; with ``notes`` also the chat's notes made inside it."""
        return [m for m in self.messages if m.thread_root == root.event_id and (notes or m.kind != "system")]

    def latest_of_thread(self, root_id: str) -> str:
        replies = [m.event_id for m in self.messages if m.thread_root == root_id and m.kind != "system"]
        return replies[-1] if replies else root_id

    def add_system(self, lines: list[str], thread_root: str | None = None) -> Message:
        message = Message(
            f"system-{len(self.messages)}",
            "",
            0,
            "system",
            {},
            0,
            thread_root=thread_root,
            lines=tuple(lines),
        )
        self.messages.append(message)
        return message

    def apply(self, source: Mapping[str, Any]) -> Change | None:
        """Take one timeline event into the room; None when it shows nothing."""
        event_id, sender = source.get("event_id"), source.get("sender")
        if not isinstance(event_id, str) or not isinstance(sender, str) or event_id in self.by_id:
            return None
        kind = source.get("type")
        content = source.get("content")
        content = dict(content) if isinstance(content, Mapping) else {}
        if kind == "m.reaction":
            return self._reaction(event_id, sender, content)
        if kind == "m.room.redaction":
            return self._redaction(content.get("redacts") or source.get("redacts"))
        rel = relation(content)
        if kind == "m.room.message" and rel.get("rel_type") == "m.replace":
            return self._edit(sender, rel.get("event_id"), content)
        shown = self._kind(kind, content)
        if shown is None:
            return None
        thread = rel.get("event_id") if rel.get("rel_type") == "m.thread" else None
        reply = rel.get("m.in_reply_to", {})
        reply_to = (
            reply.get("event_id") if isinstance(reply, Mapping) and not rel.get("is_falling_back") else None
        )
        self._numbers += 1
        ts = source.get("origin_server_ts")
        message = Message(
            event_id,
            sender,
            self._numbers,
            shown,
            content,
            ts if isinstance(ts, int) else 0,
            thread_root=thread if isinstance(thread, str) else None,
            reply_to=reply_to if isinstance(reply_to, str) else None,
        )
        self.messages.append(message)
        self.by_id[event_id] = message
        return Change(message, new=True)

    @staticmethod
    def _kind(event_type: Any, content: Mapping[str, Any]) -> Kind | None:
        if event_type in POLL_TYPES:
            return "poll"
        if event_type == "m.room.encrypted":
            return "undecryptable"  # nio gives the decrypted event when it has the key
        if event_type != "m.room.message":
            return None
        msgtype = content.get("msgtype")
        if msgtype in FILE_TYPES:
            return "file"
        if msgtype == "m.notice":
            return "notice"
        if msgtype == "m.emote":
            return "emote"
        return "text" if "body" in content else None

    def _edit(self, sender: str, target_id: Any, content: Mapping[str, Any]) -> Change | None:
        """An edit replaces the text of the message it edits; only its sender may edit it."""
        target = self.by_id.get(target_id) if isinstance(target_id, str) else None
        new = content.get("m.new_content")
        if target is None or target.sender != sender or not isinstance(new, Mapping):
            return None
        kept = {k: v for k, v in target.content.items() if k == "m.relates_to"}
        target.content = {**dict(new), **kept}
        target.edited = True
        return Change(target, new=False)

    def _reaction(self, event_id: str, sender: str, content: Mapping[str, Any]) -> Change | None:
        rel = relation(content)
        target = self.by_id.get(rel.get("event_id", ""))
        key = rel.get("key")
        if rel.get("rel_type") != "m.annotation" or target is None or not isinstance(key, str):
            return None
        target.reactions.setdefault(key, set()).add(sender)
        self._reactions[event_id] = (target.event_id, key, sender)
        return Change(target, new=False)

    def _redaction(self, redacts: Any) -> Change | None:
        if not isinstance(redacts, str):
            return None
        if redacts in self._reactions:
            target_id, key, sender = self._reactions.pop(redacts)
            target = self.by_id[target_id]
            target.reactions.get(key, set()).discard(sender)
            if not target.reactions.get(key):
                target.reactions.pop(key, None)
            return Change(target, new=False)
        message = self.by_id.get(redacts)
        if message is None:
            return None
        message.kind, message.content = "redacted", {}
        return Change(message, new=False)

    def latest_from_others(self, own: str, thread_root: str | None) -> Message | None:
        """The message ``/react ✅`` without a number means: the latest someone else sent."""
        for message in reversed(self.messages):
            if message.kind in ("system", "redacted") or message.sender == own:
                continue
            if thread_root is None or message.thread_root == thread_root or message.event_id == thread_root:
                return message
        return None
