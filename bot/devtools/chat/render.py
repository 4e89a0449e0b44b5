"""A room or a thread as Rich text: one block per message, thread replies indented under
their root, reactions and "(bewerkt)" under the text, files with the path they were
saved to."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from rich.text import Text

from bot.devtools.chat.content import Names, message_text, poll_text
from bot.devtools.chat.model import Message, Room
from bot.devtools.chat.texts import Texts

_SENDER_STYLES = ("bold green", "bold blue", "bold yellow", "bold cyan", "bold red")


def shown_path(path: Path) -> str:
    """The saved file's path as a person types it: relative when under where the demo runs."""
    absolute = path.resolve()
    here = Path(os.getcwd()).resolve()
    return str(absolute.relative_to(here)) if absolute.is_relative_to(here) else str(absolute)


class Renderer:
    def __init__(self, texts: Texts, names: Names, own_user_id: str) -> None:
        self.texts = texts
        self.names = names
        self.own = own_user_id

    def body(self, message: Message) -> Text:
        """The message's own text, without its header."""
        t = self.texts
        if message.kind == "system":
            return Text("\n".join(message.lines), style="dim italic")
        if message.kind == "undecryptable":
            return Text(t("message.undecryptable"), style="dim")
        if message.kind == "redacted":
            return Text("—", style="dim")
        if message.kind == "poll":
            text = Text(t("message.poll") + "\n", style="bold")
            text.append(poll_text(message.content))
            return text
        if message.kind == "file":
            name = str(message.content.get("filename") or message.content.get("body") or "file")
            if message.file_state == "saved" and message.file_path is not None:
                return Text(t("message.file_saved", name=name, path=shown_path(message.file_path)), "green")
            key = "message.file_failed" if message.file_state == "failed" else "message.file_saving"
            return Text(t(key, name=name), style="yellow")
        text = message_text(message.content, self.names)
        if message.kind == "notice":
            text.stylize("default")
        if message.kind == "emote":
            text = Text(f"* {self.names(message.sender)} ") + text
        return text

    def sender(self, message: Message) -> Text:
        if message.sender == self.own:
            return Text(self.texts("message.you"), style="bold")
        style = _SENDER_STYLES[sum(map(ord, message.sender)) % len(_SENDER_STYLES)]
        return Text(self.names(message.sender), style=style)

    def block(self, room: Room, message: Message, indent: str = "") -> Text:
        if message.kind == "system":
            return _indented(self.body(message), indent)
        head = Text(f"#{message.number} ", style="dim")
        head.append_text(self.sender(message))
        if message.ts:
            head.append(" " + datetime.fromtimestamp(message.ts / 1000).strftime("%H:%M"), style="dim")
        if message.reply_to:
            target = room.by_id.get(message.reply_to)
            note = (
                self.texts("message.reply_to", number=target.number)
                if target
                else self.texts("message.reply_to_unknown")
            )
            head.append("  " + note, style="dim")
        out = Text(indent) + head + Text("\n")
        out.append_text(_indented(self.body(message), indent + "  "))
        extras = [f"{key} {len(users)}" for key, users in sorted(message.reactions.items()) if users]
        if message.edited:
            extras.append(self.texts("message.edited"))
        if extras:
            out.append("\n" + indent + "  " + "  ".join(extras), style="dim")
        return out

    def room(self, room: Room, thread_root: str | None = None) -> list[Text]:
        """The blocks of a room, or of one thread when ``thread_root`` is given."""
        if thread_root is not None:
            root = room.by_id.get(thread_root)
            if root is None:
                return []
            replies = room.replies(root, notes=True)
            return [self.block(room, root)] + [self.block(room, m, "  │ ") for m in replies]
        blocks: list[Text] = []
        locked: list[Message] = []  # history this new device cannot read: one line for a run
        for message in room.messages:
            if message.thread_root is not None and message.thread_root in room.by_id:
                continue  # shown under its root (a note made in the thread, only there)
            if message.kind == "undecryptable" and not room.replies(message):
                locked.append(message)
                continue
            if locked:
                blocks.append(self.locked(locked))
                locked = []
            blocks.append(self.block(room, message))
            replies = room.replies(message) if message.kind != "system" else []
            if replies:
                count = Text(
                    "  │ " + self.texts("message.thread_replies", count=len(replies), number=message.number),
                    style="dim",
                )
                blocks.append(count)
                blocks += [self.block(room, reply, "  │ ") for reply in replies]
        if locked:
            blocks.append(self.locked(locked))
        return blocks

    def locked(self, messages: list[Message]) -> Text:
        if len(messages) == 1:
            return Text(f"#{messages[0].number} ", style="dim") + self.body(messages[0])
        numbers = f"#{messages[0].number}–#{messages[-1].number} "
        return Text(numbers, style="dim") + Text(
            self.texts("message.undecryptable_run", count=len(messages)), style="dim"
        )

    def line(self, room: Room, message: Message) -> str:
        """One message as plain text, for the non-interactive mode."""
        if message.kind == "system":
            return "\n".join(message.lines)
        body = self.body(message).plain.replace("\n", "\n    ")
        return f"[{room.label}] {self.sender(message).plain}: {body}"


def _indented(text: Text, indent: str) -> Text:
    if not indent:
        return text
    lines = text.split("\n", allow_blank=True)
    out = Text()
    for index, line in enumerate(lines):
        if index:
            out.append("\n")
        out.append(indent)
        out.append_text(line)
    return out
