"""The chat without a screen, for scripts that pipe lines in (standard input is not a
terminal): every line is handled as typed, the answers are printed, and after the last
line the chat waits a moment for late answers and ends by itself."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from bot.devtools.chat.model import Room
from bot.devtools.chat.session import ChatSession

_ANSWER_WAIT_S = 15  # how long a piped line waits for someone's answer


class PlainChat:
    def __init__(self, session: ChatSession, out: TextIO) -> None:
        self.session = session
        self.out = out
        self._printed: set[tuple[str, str]] = set()
        self._started = False
        session.on_change = self._changed

    def _changed(self, room: Room | None) -> None:
        rooms = [room] if room is not None else self.session.client.ordered_rooms()
        for each in rooms:
            for message in each.messages:
                key = (each.room_id, message.event_id + (message.file_state or ""))
                if key in self._printed or message.file_state == "saving":
                    continue
                self._printed.add(key)
                if self._started:
                    self.out.write(self.session.render.line(each, message) + "\n")
        self.out.flush()

    async def run(self, read_line: Callable[[], asyncio.Future[str]] | None = None) -> None:
        session = self.session
        await session.start()
        self._changed(None)  # the history is not printed, only what comes from now on
        self._started = True
        reader = read_line or _stdin_reader()
        syncer = asyncio.create_task(session.client.sync_forever())
        try:
            while not session.quit.is_set():
                line = await reader()
                if line == "":  # end of input
                    break
                session.live.clear()
                await session.submit(line)
                if line.strip() and not line.strip().startswith("/"):
                    await _wait_quietly(session.live, _ANSWER_WAIT_S)
            # The rest of an answer (the DM after the room's reply): until it is quiet.
            await _until_quiet(session.live)
        finally:
            syncer.cancel()
            await asyncio.gather(syncer, return_exceptions=True)
            await session.client.close()


async def _until_quiet(live: asyncio.Event, quiet: float = 2, longest: float = 15) -> None:
    """Wait until nothing new came for ``quiet`` seconds, ``longest`` seconds at most."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + longest
    while loop.time() < deadline:
        live.clear()
        try:
            await asyncio.wait_for(live.wait(), min(quiet, deadline - loop.time()))
        except TimeoutError:
            return


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
