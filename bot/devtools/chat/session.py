"""Where typed lines go, and the chat's own ``/commands``.

A line starting with ``/`` is the chat's: it is never sent, and one the chat does not
know is answered. Everything else goes to the room (or thread) being written in; while
that is unclear (before the start is done) nothing is sent and the line stays typed.
A bot command that belongs in the direct chat (``!instellingen``, ``!intro`` …) typed
elsewhere is held, and ``/ja`` sends it there.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from bot.devtools.chat.client import ChatClient, ChatSetup
from bot.devtools.chat.model import Change, Room
from bot.devtools.chat.render import Renderer, shown_path
from bot.devtools.chat.texts import Texts

log = logging.getLogger(__name__)

# Bot commands whose conversation or answer is private: they belong in the DM.
DM_COMMANDS = frozenset(
    {
        "intro",
        "introductie",
        "instellingen",
        "settings",
        "mijngegevens",
        "mydata",
        "vergeet-mij",
        "vergeetmij",
        "forgetme",
        "profiel",
        "profile",
    }
)


@dataclass
class Offer:
    text: str


class ChatSession:
    def __init__(self, setup: ChatSetup, on_change: Callable[[Room | None], None]) -> None:
        self.texts = Texts(setup.language)
        self.on_change = on_change
        self.client = ChatClient(setup, self._changed)
        self.render = Renderer(self.texts, self.client.name_of, setup.user_id)
        self.current: str | None = None
        self.thread: str | None = None
        self.offer: Offer | None = None
        self.quit = asyncio.Event()
        self.last_live: Change | None = None
        self.loose: list[str] = []  # notes from before a room was open
        self.live = asyncio.Event()  # set on every new message from someone else
        self._commands: dict[str, Callable[[list[str]], object]] = {
            **dict.fromkeys(("help", "hulp", "h", "?"), self._help),
            **dict.fromkeys(("kamers", "rooms"), self._rooms),
            **dict.fromkeys(("kamer", "room", "ga", "go"), self._go),
            "dm": self._dm,
            **dict.fromkeys(("draad", "thread"), self._thread),
            **dict.fromkeys(("terug", "back"), self._back),
            **dict.fromkeys(("react", "reageer"), self._react),
            "open": self._open,
            **dict.fromkeys(("ja", "yes"), self._accept),
            **dict.fromkeys(("nee", "no"), self._decline),
            **dict.fromkeys(("stop", "quit", "exit"), self._quit),
        }

    @property
    def bot_name(self) -> str:
        return self.client.name_of(self.client.setup.bot_user_id)

    def dm_label(self) -> str:
        return self.texts("room.dm", bot=self.bot_name)

    async def start(self) -> None:
        await self.client.connect(self.dm_label())
        start = self.client.community[0] if self.client.community else None
        self.current = start
        if start is not None:
            room = self.client.rooms[start]
            room.add_system(self.client.setup.intro)
            if self.loose:
                room.add_system(self.loose)
            self.note(self.texts("status.ready", room=room.label))
        self.on_change(None)

    # ------------------------------------------------------------------ changes

    def _changed(self, room: Room, change: Change | None) -> None:
        self.client.label_rooms(self.dm_label())  # names arrive with the room's state
        if change is None:  # a room joined
            if room.room_id == self.client.dm_id and self.client.ready:
                self.note(self.texts("status.dm_found", bot=self.bot_name))
        elif change.new and self.client.ready and change.message.sender != self.client.own:
            if room.room_id != self.current:
                room.unread += 1
            self.last_live = change
            self.live.set()
        self.on_change(room)

    def note(self, *lines: str) -> None:
        """A line of the chat itself, shown in the room being looked at (never sent)."""
        room = self.room
        if room is None:  # before the start is done: shown on their own, then in the room
            self.loose += lines
            self.on_change(None)
            return
        room.add_system(list(lines), self.thread)
        self.on_change(room)

    @property
    def room(self) -> Room | None:
        return self.client.rooms.get(self.current) if self.current else None

    def switch(self, room_id: str, thread: str | None = None) -> None:
        self.current, self.thread = room_id, thread
        room = self.client.rooms[room_id]
        room.unread = 0
        self.on_change(None)

    def placeholder(self) -> str:
        room = self.room
        if room is None or not self.client.ready:
            return self.texts("placeholder.unclear")
        if self.thread is not None and self.thread in room.by_id:
            return self.texts("placeholder.thread", number=room.by_id[self.thread].number)
        return self.texts("placeholder.room", room=room.label)

    # ------------------------------------------------------------------ typed lines

    async def submit(self, line: str) -> bool:
        """Handle one typed line; False when it was not used up and should stay typed."""
        line = line.strip()
        if not line:
            return True
        if line.startswith("/") and not line.startswith("//"):
            name, *args = line[1:].split()
            handler = self._commands.get(name.lower())
            if handler is None:
                self.note(self.texts("status.unknown_command", name=name))
                return True
            result = handler(args)
            if asyncio.iscoroutine(result):
                await result
            return True
        room = self.room
        if room is None or not self.client.ready:
            self.note(self.texts("status.unclear"))
            return False
        if line.startswith("!") and self._belongs_in_dm(line) and room.room_id != self.client.dm_id:
            self.offer = Offer(line)
            self.note(self.texts("status.dm_offer", command=line.split()[0], bot=self.bot_name))
            return True
        await self._send(room.room_id, line, self.thread)
        return True

    @staticmethod
    def _belongs_in_dm(line: str) -> bool:
        words = line[1:].split()
        return bool(words) and words[0].lower() in DM_COMMANDS

    async def _send(self, room_id: str, text: str, thread: str | None = None) -> None:
        try:
            await self.client.send_text(room_id, text[1:] if text.startswith("//") else text, thread)
        except Exception as exc:  # shown, not raised: the chat goes on
            self.note(self.texts("status.send_failed", reason=str(exc)))

    # ------------------------------------------------------------------ the commands

    def _help(self, args: list[str]) -> None:
        self.note(*self.texts.help())

    def _rooms(self, args: list[str]) -> None:
        listed = [
            f"{n}. {r.label}" + (f" ({r.unread})" if r.unread else "")
            for n, r in enumerate(self.client.ordered_rooms(), 1)
        ]
        self.note(self.texts("status.rooms", rooms=", ".join(listed)))

    def _go(self, args: list[str]) -> None:
        wanted = " ".join(args).strip().lstrip("#").lower()
        rooms = self.client.ordered_rooms()
        found: Room | None = None
        if wanted.isdigit() and 1 <= int(wanted) <= len(rooms):
            found = rooms[int(wanted) - 1]
        elif wanted:
            found = next((r for r in rooms if r.label.lstrip("#").lower().startswith(wanted)), None)
            found = found or next((r for r in rooms if wanted in r.label.lower()), None)
        if found is None:
            self.note(self.texts("status.unknown_room", name=" ".join(args)))
            return
        self.switch(found.room_id)
        self.note(self.texts("status.now_in", room=found.label))

    def _dm(self, args: list[str]) -> None:
        dm = self.client.dm_id
        if dm is None or dm not in self.client.rooms:
            self.note(self.texts("status.dm_waiting", bot=self.bot_name))
            return
        self.switch(dm)
        self.note(self.texts("status.now_in", room=self.client.rooms[dm].label))

    def _message(self, arg: str) -> tuple[Room, int] | None:
        room = self.room
        if room is None:
            self.note(self.texts("status.unclear"))
            return None
        number = int(arg.lstrip("#")) if arg.lstrip("#").isdigit() else -1
        if room.find(number) is None:
            self.note(self.texts("status.unknown_message", number=arg.lstrip("#")))
            return None
        return room, number

    def _thread(self, args: list[str]) -> None:
        if len(args) != 1:
            self.note(self.texts("status.thread_usage"))
            return
        found = self._message(args[0])
        if found is None:
            return
        room, number = found
        message = room.find(number)
        assert message is not None
        root = message.thread_root or message.event_id  # a reply opens its own thread
        self.switch(room.room_id, root)
        self.note(self.texts("status.now_in_thread", number=room.by_id[root].number, room=room.label))

    def _back(self, args: list[str]) -> None:
        if self.room is not None:
            self.switch(self.room.room_id)
            self.note(self.texts("status.back_in_room", room=self.room.label))

    async def _react(self, args: list[str]) -> None:
        room = self.room
        if room is None or not args or len(args) > 2:
            self.note(self.texts("status.react_usage"))
            return
        key = args[-1]
        if len(args) == 2:
            found = self._message(args[0])
            if found is None:
                return
            target = room.find(found[1])
        else:
            target = room.latest_from_others(self.client.own, self.thread)
        if target is None:
            self.note(self.texts("status.no_message"))
            return
        try:
            await self.client.react(room.room_id, target.event_id, key)
        except Exception as exc:
            self.note(self.texts("status.send_failed", reason=str(exc)))
            return
        self.note(self.texts("status.reacted", key=key, number=target.number))

    def _open(self, args: list[str]) -> None:
        found = self._message(args[0]) if len(args) == 1 else None
        if found is None:
            if len(args) != 1:
                self.note(self.texts("status.open_usage"))
            return
        message = found[0].find(found[1])
        assert message is not None
        if message.kind != "file":
            self.note(self.texts("status.not_a_file", number=message.number))
        elif message.file_path is None:
            self.note(self.texts("status.not_saved", number=message.number))
        elif opener := shutil.which("xdg-open") or shutil.which("open"):
            subprocess.Popen(
                [opener, str(message.file_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            self.note(self.texts("status.opened", path=shown_path(message.file_path)))
        else:
            self.note(self.texts("status.open_path", path=shown_path(message.file_path)))

    async def _accept(self, args: list[str]) -> None:
        offer, self.offer = self.offer, None
        dm = self.client.dm_id
        if offer is None:
            self.note(self.texts("status.dm_offer_none"))
            return
        if dm is None or dm not in self.client.rooms:
            self.note(self.texts("status.dm_waiting", bot=self.bot_name))
            return
        self.switch(dm)
        self.note(self.texts("status.now_in", room=self.client.rooms[dm].label))
        await self._send(dm, offer.text)

    def _decline(self, args: list[str]) -> None:
        had, self.offer = self.offer, None
        self.note(self.texts("status.offer_dropped" if had else "status.dm_offer_none"))

    def _quit(self, args: list[str]) -> None:
        self.quit.set()
