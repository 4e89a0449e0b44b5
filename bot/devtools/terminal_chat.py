"""A small terminal Matrix client, so a newcomer can talk to the bot from the demo.

It logs in as a member, joins one room, prints what others say there and sends every
line typed. Direct chats the bot opens (the welcome, an introduction conversation) are
joined and shown too, marked ``[dm]``; ``/dm`` sends to the direct chat from then on,
``/room`` back to the room. When standard input is not a terminal (a script pipes
commands in), it waits for the answers after the last line and then ends by itself.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from nio import (
    AsyncClient,
    AsyncClientConfig,
    InviteMemberEvent,
    JoinError,
    LoginError,
    MatrixRoom,
    RoomMessage,
    RoomMessageNotice,
    RoomMessageText,
)

_SYNC_TIMEOUT_MS = 30_000


class TerminalChat:
    def __init__(
        self,
        homeserver: str,
        user_id: str,
        password: str,
        room: str,
        *,
        store_dir: Path | None = None,
        out: TextIO = sys.stdout,
        prompt: str = "> ",
    ) -> None:
        if store_dir is None:
            self.client = AsyncClient(homeserver, user_id)
        else:
            # With a store the chat encrypts like Element does: the bot's direct chats are
            # encrypted. A new device each run, so a fresh key for a fresh store.
            store_dir.mkdir(parents=True, exist_ok=True)
            config = AsyncClientConfig(
                encryption_enabled=True, store_sync_tokens=False, pickle_key=secrets.token_urlsafe(16)
            )
            self.client = AsyncClient(homeserver, user_id, store_path=str(store_dir), config=config)
        self.password = password
        self.room_alias = room
        self.room_id: str | None = None
        self.dm_id: str | None = None  # the latest direct chat someone opened with us
        self.target: str | None = None  # where typed lines go
        self.out = out
        self.prompt = prompt
        self._ready = False
        self._last_message = asyncio.Event()

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    async def _on_message(self, room: MatrixRoom, event: RoomMessage) -> None:
        if not self._ready or event.sender == self.client.user_id:
            return
        if room.room_id != self.room_id and room.member_count == 2:
            self.dm_id = room.room_id  # a direct chat joined in an earlier run
        if room.room_id not in (self.room_id, self.dm_id):
            return
        if isinstance(event, RoomMessageText | RoomMessageNotice):
            name = room.user_name(event.sender) or event.sender
            if room.room_id == self.dm_id:
                name = f"[dm] {name}"
            body = textwrap.indent(event.body, "    ").lstrip()
            # Start on a fresh line and show the prompt again, so typing can go on.
            prompt = self.prompt if sys.stdin.isatty() else ""
            hint = ""
            if room.room_id == self.dm_id and self.target != self.dm_id:
                hint = "    (type /dm to answer in this direct chat, /room to go back)\n"
            self.out.write(f"\r{name}: {body}\n{hint}{prompt}")
            self.out.flush()
            self._last_message.set()

    async def _on_invite(self, room: MatrixRoom, event: InviteMemberEvent) -> None:
        """Join the direct chat the bot opens (its welcome) and show it from then on."""
        if event.state_key != self.client.user_id or event.membership != "invite":
            return
        joined = await self.client.join(room.room_id)
        if not isinstance(joined, JoinError):
            self.dm_id = joined.room_id

    async def connect(self) -> None:
        login = await self.client.login(self.password, device_name="terminal-chat")
        if isinstance(login, LoginError):
            raise RuntimeError(f"login failed: {login.message}")
        joined = await self.client.join(self.room_alias)
        if isinstance(joined, JoinError):
            raise RuntimeError(f"could not join {self.room_alias}: {joined.message}")
        self.room_id = self.target = joined.room_id
        self.client.add_event_callback(self._on_message, (RoomMessageText, RoomMessageNotice))
        self.client.add_event_callback(self._on_invite, InviteMemberEvent)
        await self._keys()
        # The first sync brings history; it is not shown.
        await self.client.sync(timeout=1000, full_state=True)
        await self._keys()
        self._ready = True

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

    async def _sync_forever(self) -> None:
        while True:
            await self.client.sync(timeout=_SYNC_TIMEOUT_MS, since=self.client.next_batch)
            await self._keys()

    async def send(self, text: str) -> None:
        assert self.target is not None
        await self.client.room_send(
            self.target,
            "m.room.message",
            {"msgtype": "m.text", "body": text, "m.mentions": {}},
            ignore_unverified_devices=True,
        )

    async def run(self, read_line: Callable[[], asyncio.Future[str]] | None = None) -> None:
        """Chat until ``/quit``, Ctrl-D or (for piped input) the answers have come."""
        interactive = sys.stdin.isatty()
        reader = read_line or _stdin_reader()
        syncer = asyncio.create_task(self._sync_forever())
        try:
            while True:
                if interactive:
                    self.out.write(self.prompt)
                    self.out.flush()
                line = await reader()
                if line == "":  # end of input
                    break
                line = line.strip()
                if line in ("/quit", "/exit"):
                    return
                if line in ("/dm", "/room"):
                    self.target = self.dm_id if line == "/dm" and self.dm_id else self.room_id
                    where = "the direct chat" if self.target == self.dm_id else self.room_alias
                    self._print(f"    (now writing in {where})")
                    continue
                if line:
                    self._last_message.clear()
                    await self.send(line)
                    if not interactive:
                        await _wait_quietly(self._last_message, 15)
            if not interactive:
                await asyncio.sleep(1)
        finally:
            syncer.cancel()
            await asyncio.gather(syncer, return_exceptions=True)
            await self.client.close()


async def _wait_quietly(event: asyncio.Event, timeout: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        pass


def _stdin_reader() -> Callable[[], asyncio.Future[str]]:
    """Lines from standard input, read by a daemon thread so Ctrl-C never waits for Enter."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()

    def pump() -> None:
        while True:
            line = sys.stdin.readline()
            loop.call_soon_threadsafe(queue.put_nowait, line)
            if line == "":
                return

    threading.Thread(target=pump, name="stdin", daemon=True).start()

    def read() -> asyncio.Future[str]:
        return asyncio.ensure_future(queue.get())

    return read
