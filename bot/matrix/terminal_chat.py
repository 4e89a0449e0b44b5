"""A small terminal Matrix client, so a newcomer can talk to the bot from the demo.

It logs in as a member, joins one room, prints what others say there and sends every
line typed. When standard input is not a terminal (a script pipes commands in), it
waits for the answers after the last line and then ends by itself.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
import threading
from collections.abc import Callable
from typing import TextIO

from nio import (
    AsyncClient,
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
        out: TextIO = sys.stdout,
        prompt: str = "> ",
    ) -> None:
        self.client = AsyncClient(homeserver, user_id)
        self.password = password
        self.room_alias = room
        self.room_id: str | None = None
        self.out = out
        self.prompt = prompt
        self._ready = False
        self._last_message = asyncio.Event()

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    async def _on_message(self, room: MatrixRoom, event: RoomMessage) -> None:
        if not self._ready or room.room_id != self.room_id or event.sender == self.client.user_id:
            return
        if isinstance(event, RoomMessageText | RoomMessageNotice):
            name = room.user_name(event.sender) or event.sender
            body = textwrap.indent(event.body, "    ").lstrip()
            # Start on a fresh line and show the prompt again, so typing can go on.
            prompt = self.prompt if sys.stdin.isatty() else ""
            self.out.write(f"\r{name}: {body}\n{prompt}")
            self.out.flush()
            self._last_message.set()

    async def connect(self) -> None:
        login = await self.client.login(self.password, device_name="terminal-chat")
        if isinstance(login, LoginError):
            raise RuntimeError(f"login failed: {login.message}")
        joined = await self.client.join(self.room_alias)
        if isinstance(joined, JoinError):
            raise RuntimeError(f"could not join {self.room_alias}: {joined.message}")
        self.room_id = joined.room_id
        self.client.add_event_callback(self._on_message, (RoomMessageText, RoomMessageNotice))
        # The first sync brings history; it is not shown.
        await self.client.sync(timeout=1000, full_state=True)
        self._ready = True

    async def _sync_forever(self) -> None:
        while True:
            await self.client.sync(timeout=_SYNC_TIMEOUT_MS, since=self.client.next_batch)

    async def send(self, text: str) -> None:
        assert self.room_id is not None
        await self.client.room_send(
            self.room_id, "m.room.message", {"msgtype": "m.text", "body": text, "m.mentions": {}}
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
