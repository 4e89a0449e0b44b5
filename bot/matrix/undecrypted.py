"""Messages the bot could not decrypt yet, kept durably until their room keys arrive.

An entry waits in ``core_state`` (so a restart keeps it); keys are requested from the
sender's devices, decryption is retried after every sync (room keys arrive as
to-device messages), and after ``matrix.undecryptable_wait_s`` the sync loop lets the
core tell the member, once per member, room and Megolm session.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.matrix import state
from bot.storage.database import Database

log = logging.getLogger(__name__)

#: The ``core_state`` key of the messages not decrypted yet.
UNDECRYPTED = "matrix.undecrypted"
#: At most this many undecryptable messages wait for keys; beyond it the oldest is given up.
MAX_PENDING = 500
#: The to-device types a member's client uses to say it will not send a room key
#: (the spec's, and the older unstable name some clients still send).
WITHHELD_TYPES = frozenset({"m.room_key.withheld", "org.matrix.room_key.withheld"})


@dataclass
class Undecrypted:
    """A message the bot could not decrypt yet, waiting for its room key."""

    event_id: str
    room_id: str
    sender: str
    session_id: str
    first_seen: datetime
    source: Mapping[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "room_id": self.room_id,
            "sender": self.sender,
            "session_id": self.session_id,
            "first_seen": state.encode_time(self.first_seen),
            "source": dict(self.source),
        }

    @classmethod
    def from_json(cls, data: Any) -> Undecrypted | None:
        if not isinstance(data, Mapping):
            return None
        fields = [data.get(k) for k in ("event_id", "room_id", "sender", "session_id")]
        texts = [f for f in fields if isinstance(f, str)]
        first_seen = state.decode_time(data.get("first_seen"))
        source = data.get("source")
        if len(texts) != 4 or first_seen is None or not isinstance(source, Mapping):
            return None
        event_id, room_id, sender, session_id = texts
        return cls(event_id, room_id, sender, session_id, first_seen, source)

    @property
    def session_key(self) -> str:
        """One notice per member, room and Megolm session (a lost key hides all its messages)."""
        return f"{self.room_id}|{self.sender}|{self.session_id}"


class PendingDecryptions:
    """The undecryptable messages and the sessions already explained, kept in ``core_state``."""

    def __init__(self, db: Database, wait_s: float) -> None:
        self._db = db
        self.wait = timedelta(seconds=wait_s)
        self.items: dict[str, Undecrypted] = {}
        self.told: dict[str, None] = {}  # session keys the member was told about (ordered)
        # Withheld room keys: session key (or "|sender|" for a whole device, m.no_olm)
        # -> the code the member's client gave. Such a key never comes: no waiting.
        self.withheld: dict[str, str] = {}
        self.dirty = False

    async def load(self) -> None:
        stored = (await state.load(self._db, UNDECRYPTED)).get(UNDECRYPTED)
        if not stored:
            return
        try:
            data = json.loads(stored)
        except ValueError:
            log.warning("the list of undecrypted messages is unreadable; starting a new one")
            return
        for raw in data.get("items", []) if isinstance(data, dict) else []:
            item = Undecrypted.from_json(raw)
            if item is not None:
                self.items[item.event_id] = item
        told = data.get("told", []) if isinstance(data, dict) else []
        self.told = {key: None for key in told if isinstance(key, str)}
        withheld = data.get("withheld", {}) if isinstance(data, dict) else {}
        if isinstance(withheld, dict):
            self.withheld = {k: v for k, v in withheld.items() if isinstance(k, str) and isinstance(v, str)}
        if self.items:
            log.info("%d messages are still waiting for their room keys", len(self.items))

    async def save(self) -> None:
        if not self.dirty:
            return
        told = list(self.told)[-MAX_PENDING:]
        payload = {
            "items": [item.as_json() for item in self.items.values()],
            "told": told,
            "withheld": self.withheld,
        }
        await state.save(self._db, {UNDECRYPTED: json.dumps(payload, separators=(",", ":"))})
        self.dirty = False

    def add(self, item: Undecrypted) -> bool:
        if item.event_id in self.items:
            return False
        self.items[item.event_id] = item
        self.dirty = True
        return True

    def remove(self, event_id: str) -> None:
        if self.items.pop(event_id, None) is not None:
            self.dirty = True

    def overflow(self) -> list[Undecrypted]:
        """The oldest items beyond :data:`MAX_PENDING` (to be given up at once)."""
        extra = len(self.items) - MAX_PENDING
        return list(self.items.values())[:extra] if extra > 0 else []

    def expired(self, item: Undecrypted, now: datetime) -> bool:
        return now - item.first_seen >= self.wait

    def seconds_to_next_deadline(self, now: datetime) -> float | None:
        if not self.items:
            return None
        earliest = min(item.first_seen for item in self.items.values())
        return max(0.0, (earliest + self.wait - now).total_seconds())

    def of_member(self, user_id: str) -> list[Undecrypted]:
        return [item for item in self.items.values() if item.sender == user_id]

    def forget_member(self, user_id: str) -> int:
        """Drop the member's waiting messages and the notices about their sessions."""
        removed = [event_id for event_id, item in self.items.items() if item.sender == user_id]
        for event_id in removed:
            del self.items[event_id]
        told = [key for key in self.told if key.split("|")[1:2] == [user_id]]
        for key in told:
            del self.told[key]
        withheld = [key for key in self.withheld if key.split("|")[1:2] == [user_id]]
        for key in withheld:
            del self.withheld[key]
        if removed or told or withheld:
            self.dirty = True
        return len(removed) + len(told) + len(withheld)

    def note_withheld(self, sender: str, content: Mapping[str, Any]) -> str | None:
        """Remember a withheld room key; the code when the event is well-formed.

        ``m.no_olm`` may name no session (the client had no Olm session with the bot at
        all): it then counts for every waiting message of that sender.
        """
        code = content.get("code")
        if not isinstance(code, str) or not code:
            return None
        room_id, session_id = content.get("room_id"), content.get("session_id")
        if isinstance(room_id, str) and isinstance(session_id, str):
            key = f"{room_id}|{sender}|{session_id}"
        else:
            key = f"|{sender}|"
        self.withheld.pop(key, None)  # newest last, so the bound drops the oldest
        self.withheld[key] = code[:64]
        while len(self.withheld) > MAX_PENDING:  # bounded: a flood of them cannot grow it
            del self.withheld[next(iter(self.withheld))]
        self.dirty = True
        return code

    def key_arrived(self, item: Undecrypted) -> None:
        """A key of this sender came after all: an old ``m.no_olm`` no longer holds."""
        if self.withheld.pop(f"|{item.sender}|", None) is not None:
            self.dirty = True

    def withheld_code(self, item: Undecrypted) -> str | None:
        """The code a member's client gave for not sending this message's key, if any."""
        return self.withheld.get(item.session_key) or self.withheld.get(f"|{item.sender}|")

    def first_notice(self, item: Undecrypted) -> bool:
        """True the first time for a member's session; the member is told only then."""
        if item.session_key in self.told:
            return False
        self.told[item.session_key] = None
        self.dirty = True
        return True
