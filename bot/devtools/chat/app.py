"""The chat on screen (Textual): the rooms on the left with unread counts, the room or
thread in the middle, the line to type at the bottom."""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Footer, Header, Input, OptionList, RichLog
from textual.widgets.option_list import Option

from bot.devtools.chat.model import Room
from bot.devtools.chat.session import ChatSession

log = logging.getLogger(__name__)


class LineInput(Input):
    """An input that ends a line the moment its Enter arrives, in the order of the keys.

    Textual runs the Enter binding after the keys queued behind it have been typed in,
    so ``/dm`` + Enter + an answer typed at once came out as one line, "/dmD", and the
    rest of the answer as a second line in the wrong room. Here Enter is a key like the
    others: the line is taken and the input emptied before the next key lands."""

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            value, self.value = self.value, ""
            self.post_message(self.Submitted(self, value, None))
            return
        await super()._on_key(event)


class ChatApp(App[None]):
    CSS = """
    #rooms { width: 32; border-right: solid $primary-darken-2; }
    #log { padding: 0 1; }
    #input { dock: bottom; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "quit", "Stop", priority=True),
        Binding("ctrl+n", "next_room(1)", "→", priority=True),
        Binding("ctrl+p", "next_room(-1)", "←", priority=True),
    ]

    def __init__(self, session: ChatSession) -> None:
        super().__init__()
        self.session = session
        session.on_change = self._changed
        self._shown: list[str] = []  # room ids in the list, in order
        self._tasks: list[asyncio.Task[None]] = []

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal():
            yield OptionList(id="rooms")
            yield RichLog(id="log", wrap=True, markup=False, highlight=False)
        yield LineInput(id="input", placeholder=self.session.placeholder())
        yield Footer()

    async def on_mount(self) -> None:
        texts = self.session.texts
        self.title = texts("title", member=self.session.client.own)
        self.query_one("#log", RichLog).write(Text(texts("status.connecting"), style="dim"))
        self.query_one("#input", Input).focus()
        self._tasks.append(asyncio.create_task(self._run()))

    async def _run(self) -> None:
        try:
            await self.session.start()
            sync = asyncio.create_task(self.session.client.sync_forever())
            self._tasks.append(sync)
            await self.session.quit.wait()
        except Exception as exc:
            log.exception("the chat stopped")
            self.query_one("#log", RichLog).write(Text(str(exc), style="bold red"))
            await self.session.quit.wait()
        self.exit()

    async def on_unmount(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.session.client.close()

    # ------------------------------------------------------------------ showing

    def _changed(self, room: Room | None) -> None:
        if not self.is_running:
            return
        self._refresh_rooms()
        if room is None or room.room_id == self.session.current:
            self._refresh_log()
        self.query_one("#input", Input).placeholder = self.session.placeholder()

    def _refresh_rooms(self) -> None:
        rooms = self.session.client.ordered_rooms()
        widget = self.query_one("#rooms", OptionList)
        widget.clear_options()
        self._shown = [r.room_id for r in rooms]
        self.sub_title = self.session.texts("rooms_title")
        for number, room in enumerate(rooms, 1):
            label = Text(f"{number:>2} ")
            label.append(room.label, style="bold reverse" if room.room_id == self.session.current else "")
            if room.unread:
                label.append(f" ● {room.unread}", style="bold yellow")
            widget.add_option(Option(label, id=room.room_id))

    def _refresh_log(self) -> None:
        log_widget = self.query_one("#log", RichLog)
        log_widget.clear()
        room = self.session.room
        if room is None:
            for line in self.session.loose:
                log_widget.write(Text(line, style="dim italic"))
            return
        title = Text(room.label, style="bold underline")
        if self.session.thread is not None and self.session.thread in room.by_id:
            title.append(f"  ›  #{room.by_id[self.session.thread].number}", style="bold")
        log_widget.write(title)
        for block in self.session.render.room(room, self.session.thread):
            log_widget.write(block)

    # ------------------------------------------------------------------ input

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        used = await self.session.submit(event.value)
        if not used and not event.input.value:
            event.input.value = event.value  # not sent: it stays typed, to send once clear
        event.input.placeholder = self.session.placeholder()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id and event.option.id in self.session.client.rooms:
            self.session.switch(event.option.id)
        self.query_one("#input", Input).focus()

    def action_next_room(self, step: int) -> None:
        if not self._shown or self.session.current is None:
            return
        index = self._shown.index(self.session.current) if self.session.current in self._shown else 0
        self.session.switch(self._shown[(index + step) % len(self._shown)])

    async def action_quit(self) -> None:
        self.session.quit.set()
        self.exit()
