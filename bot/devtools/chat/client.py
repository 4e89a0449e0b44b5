"""The chat's Matrix side: log in as the demo member, join the community rooms, find the
direct chat with the bot, follow every room the member is in, send, react, save files.

The direct chat is read from the member's ``m.direct`` account data and checked against
the room state (only the member and the bot in it); when the member has no ``m.direct``
entry yet, a room the bot invited them to as a direct chat (the invite's ``is_direct``,
kept in the membership's previous content) counts, and is written to ``m.direct`` as
Element does. Nothing is guessed from a room's size.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nio import (
    AsyncClient,
    AsyncClientConfig,
    Event,
    InviteMemberEvent,
    JoinError,
    LoginError,
    MatrixRoom,
    MegolmEvent,
    MemoryDownloadResponse,
    SyncError,
)
from nio.crypto.attachments import decrypt_attachment

from bot.devtools.chat.model import Change, Message, Room

log = logging.getLogger(__name__)
CLIENT_API = "/_matrix/client/v3"
_SYNC_TIMEOUT_MS = 30_000
_HISTORY = 30  # timeline events per room in the first sync: the recent conversation
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")

Listener = Callable[[Room, Change | None], None]


@dataclass
class ChatSetup:
    homeserver: str
    user_id: str
    password: str
    bot_user_id: str
    rooms: list[str]  # the community's rooms (aliases or ids), in the order to list them
    downloads: Path
    store_dir: Path | None = None
    language: str = "nl"
    intro: list[str] = field(default_factory=list)  # the demo's own lines, shown first


class ChatClient:
    def __init__(self, setup: ChatSetup, listener: Listener) -> None:
        self.setup = setup
        self.listener = listener
        if setup.store_dir is None:
            self.client = AsyncClient(setup.homeserver, setup.user_id)
        else:
            # With a store the chat encrypts like Element does: the bot's direct chats are
            # encrypted. A new device each run, so a fresh key for a fresh store.
            setup.store_dir.mkdir(parents=True, exist_ok=True)
            config = AsyncClientConfig(
                encryption_enabled=True, store_sync_tokens=False, pickle_key=secrets.token_urlsafe(16)
            )
            self.client = AsyncClient(
                setup.homeserver, setup.user_id, store_path=str(setup.store_dir), config=config
            )
        self.rooms: dict[str, Room] = {}
        self.community: list[str] = []  # room ids in list order
        self.dm_id: str | None = None
        self.ready = False
        self._joining: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def own(self) -> str:
        return self.setup.user_id

    # ------------------------------------------------------------------ names and rooms

    def name_of(self, user_id: str) -> str:
        for room in self.client.rooms.values():
            if user_id in room.users:
                name = room.user_name(user_id)
                if name:
                    return str(name)
        return user_id.split(":")[0].lstrip("@")

    def ordered_rooms(self) -> list[Room]:
        return sorted(self.rooms.values(), key=lambda r: r.order)

    def _room(self, room_id: str) -> Room:
        room = self.rooms.get(room_id)
        if room is None:
            nio_room = self.client.rooms.get(room_id)
            label = nio_room.display_name if nio_room is not None else room_id
            room = Room(room_id, label, "other", 1000 + len(self.rooms))
            self.rooms[room_id] = room
        return room

    def label_rooms(self, dm_label: str) -> None:
        """Names from the room state (they arrive with the first sync); the DM by its role."""
        for room in self.rooms.values():
            nio_room = self.client.rooms.get(room.room_id)
            if room.room_id == self.dm_id:
                room.kind, room.label, room.order = "dm", dm_label, 500
            elif nio_room is not None and nio_room.name:
                room.label = nio_room.name
            elif nio_room is not None and room.kind != "community":
                room.label = nio_room.display_name

    # ------------------------------------------------------------------ start

    async def connect(self, dm_label: str) -> None:
        login = await self.client.login(self.setup.password, device_name="demo-chat")
        if isinstance(login, LoginError):
            raise RuntimeError(f"login failed: {login.message}")
        # Keys first: the bot's welcome, sent as we join, is then encrypted for this device.
        await self._keys()
        for order, alias in enumerate(self.setup.rooms):
            joined = await self.client.join(alias)
            if isinstance(joined, JoinError):
                log.warning("could not join %s: %s", alias, joined.message)
                continue
            self.community.append(joined.room_id)
            self.rooms[joined.room_id] = Room(joined.room_id, alias, "community", order)
        self.client.add_event_callback(self._on_event, Event)
        self.client.add_event_callback(self._on_invite, InviteMemberEvent)
        await self._keys()
        history = {"room": {"timeline": {"limit": _HISTORY}}}
        first = await self.client.sync(timeout=1000, full_state=True, sync_filter=history)
        if isinstance(first, SyncError):
            raise RuntimeError(f"first sync failed: {first.message}")
        await self._keys()
        found = await self.find_dm()
        # A direct chat the bot invited us to during the first sync is the newest one.
        self.dm_id = self.dm_id or found
        self.label_rooms(dm_label)
        self.ready = True

    async def find_dm(self) -> str | None:
        """The direct chat with the bot: ``m.direct``, checked against the room state."""
        bot = self.setup.bot_user_id
        direct = await self._account_data("m.direct")
        listed = direct.get(bot, []) if isinstance(direct.get(bot), list) else []
        candidates = [r for r in listed if isinstance(r, str) and self._only_us_and_bot(r)]
        if not candidates:
            for room_id in list(self.client.rooms):
                if room_id not in self.community and self._only_us_and_bot(room_id):
                    if await self._invited_as_direct(room_id):
                        candidates.append(room_id)
            if candidates:
                await self._remember_direct(candidates[-1])
        if not candidates:
            return None
        # The bot opens a new one when the old one is unusable; the newest is last.
        return max(candidates, key=lambda r: (self._last_ts(r), listed.index(r) if r in listed else -1))

    def _last_ts(self, room_id: str) -> int:
        room = self.rooms.get(room_id)
        return max((m.ts for m in room.messages), default=0) if room else 0

    def _only_us_and_bot(self, room_id: str) -> bool:
        room = self.client.rooms.get(room_id)
        if room is None:
            return False
        present = set(room.users) | set(room.invited_users)
        return self.setup.bot_user_id in room.users and present <= {self.own, self.setup.bot_user_id}

    async def _invited_as_direct(self, room_id: str) -> bool:
        """The bot made this room and invited us to it as a direct chat (room state)."""
        status, state = await self._api("GET", ["rooms", room_id, "state"])
        events = (
            [e for e in state if isinstance(e, dict)] if status == 200 and isinstance(state, list) else []
        )
        creator = next((e.get("sender") for e in events if e.get("type") == "m.room.create"), None)
        for event in events:
            if event.get("type") == "m.room.member" and event.get("state_key") == self.own:
                previous = event.get("unsigned", {}).get("prev_content", {})
                if any(c.get("is_direct") is True for c in (event.get("content", {}), previous)):
                    return creator == self.setup.bot_user_id
        return False

    async def _remember_direct(self, room_id: str) -> None:
        """Write the room into ``m.direct``, as Element does when it accepts a DM."""
        current = await self._account_data("m.direct")
        rooms = [r for r in current.get(self.setup.bot_user_id, []) if r != room_id] + [room_id]
        current[self.setup.bot_user_id] = rooms
        await self._api("PUT", ["user", self.own, "account_data", "m.direct"], current)

    async def _account_data(self, kind: str) -> dict[str, Any]:
        status, data = await self._api("GET", ["user", self.own, "account_data", kind])
        return data if status == 200 and isinstance(data, dict) else {}

    async def _api(self, method: str, parts: list[str], body: Any = None) -> tuple[int, Any]:
        """A client-server call nio has no method for; (HTTP status, JSON)."""
        path = CLIENT_API + "/" + "/".join(quote(part, safe="") for part in parts)
        headers = {"Authorization": f"Bearer {self.client.access_token}", "Content-Type": "application/json"}
        resp = await self.client.send(method, path, json.dumps(body) if body is not None else None, headers)
        try:
            payload = await resp.json(content_type=None)
        except ValueError:
            payload = None
        finally:
            resp.release()
        return resp.status, payload

    # ------------------------------------------------------------------ events

    async def _on_invite(self, room: MatrixRoom, event: InviteMemberEvent) -> None:
        """Join the rooms the bot invites us to: its direct chat, buddy rooms."""
        if event.state_key != self.own or event.membership != "invite":
            return
        if event.sender != self.setup.bot_user_id or room.room_id in self._joining:
            return
        self._joining.add(room.room_id)
        joined = await self.client.join(room.room_id)
        if isinstance(joined, JoinError):
            log.warning("could not join %s: %s", room.room_id, joined.message)
            return
        self._room(joined.room_id)
        if event.content.get("is_direct") is True:
            # The invite says it is a direct chat with the bot: the newest is the one.
            await self._remember_direct(joined.room_id)
            self.dm_id = joined.room_id
        self.listener(self._room(joined.room_id), None)

    async def _on_event(self, room: MatrixRoom, event: Event) -> None:
        source = dict(event.source)
        if isinstance(event, MegolmEvent):
            source["type"] = "m.room.encrypted"
        change = self._room(room.room_id).apply(source)
        if change is None:
            return
        model = self.rooms[room.room_id]
        if change.new and change.message.kind == "file":
            self._spawn(self._save_file(model, change.message))
        self.listener(model, change)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _save_file(self, room: Room, message: Message) -> None:
        """Files and images go to the downloads folder; the message shows the path."""
        message.file_state = "saving"
        try:
            message.file_path = await self._download(message.content)
            message.file_state = "saved"
        except Exception:
            log.exception("saving a file failed")
            message.file_state = "failed"
        self.listener(room, Change(message, new=False))

    async def _download(self, content: dict[str, Any]) -> Path:
        encrypted = content.get("file")
        url = encrypted.get("url") if isinstance(encrypted, dict) else content.get("url")
        resp = await self.client.download(mxc=str(url))
        if not isinstance(resp, MemoryDownloadResponse):
            raise RuntimeError(f"download failed: {resp}")
        data = resp.body
        if isinstance(encrypted, dict):
            data = decrypt_attachment(
                data, encrypted["key"]["k"], encrypted["hashes"]["sha256"], encrypted["iv"]
            )
        name = safe_file_name(str(content.get("filename") or content.get("body") or ""))
        return unique_file(self.setup.downloads, name, data)

    # ------------------------------------------------------------------ sync and send

    async def _keys(self) -> None:
        """What nio's own sync loop does for encryption: publish our keys, learn others'."""
        client = self.client
        if not client.olm:
            return
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()

    async def sync_forever(self) -> None:
        while True:
            response = await self.client.sync(timeout=_SYNC_TIMEOUT_MS, since=self.client.next_batch)
            if isinstance(response, SyncError):
                log.warning("sync failed: %s", response.message)
                await asyncio.sleep(1)  # a bounded pause before the next long poll
                continue
            await self._keys()

    async def send_text(self, room_id: str, text: str, thread_root: str | None = None) -> None:
        content: dict[str, Any] = {"msgtype": "m.text", "body": text, "m.mentions": {}}
        if thread_root is not None:
            latest = self.rooms[room_id].latest_of_thread(thread_root)
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": thread_root,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": latest},
            }
        await self._send(room_id, "m.room.message", content)

    async def react(self, room_id: str, event_id: str, key: str) -> None:
        relates = {"rel_type": "m.annotation", "event_id": event_id, "key": key}
        await self._send(room_id, "m.reaction", {"m.relates_to": relates})

    async def _send(self, room_id: str, kind: str, content: dict[str, Any]) -> None:
        resp = await self.client.room_send(room_id, kind, content, ignore_unverified_devices=True)
        if not hasattr(resp, "event_id"):
            raise RuntimeError(getattr(resp, "message", str(resp)))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.client.logged_in:
            # Each run is a new device (its store starts empty): the old one goes, so the
            # bot does not keep sharing room keys with devices nobody uses any more.
            with contextlib.suppress(Exception):
                await self.client.logout()
        await self.client.close()


def safe_file_name(name: str) -> str:
    """The sender's file name, made safe: no folders, no hidden or empty names."""
    return _SAFE_NAME.sub("_", name).strip("._") or "file"


def unique_file(folder: Path, name: str, data: bytes) -> Path:
    """``name`` in ``folder``; the same name with other content gets a number."""
    folder.mkdir(parents=True, exist_ok=True)
    stem, dot, suffix = name.rpartition(".") if "." in name else (name, "", "")
    for attempt in range(1, 1000):
        candidate = folder / (name if attempt == 1 else f"{stem}-{attempt}{dot}{suffix}")
        if not candidate.exists():
            candidate.write_bytes(data)
            return candidate
        if candidate.read_bytes() == data:
            return candidate
    raise RuntimeError(f"no free file name for {name} in {folder}")
