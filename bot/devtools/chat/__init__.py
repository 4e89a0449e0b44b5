"""The demo's terminal chat: a small Matrix client for the demo member (a client beside
the bot, not part of it). ``app`` is the screen (Textual), ``plain`` the mode for piped
input, ``session`` what typed lines do, ``client`` the Matrix side, ``model`` and
``render`` what a room holds and how it looks, ``texts`` the chat's own catalogue."""

from __future__ import annotations

import sys
from typing import TextIO

from bot.devtools.chat.client import ChatSetup
from bot.devtools.chat.session import ChatSession


async def run_chat(setup: ChatSetup, out: TextIO | None = None) -> None:
    """The screen in a terminal; line by line when input or output is not one."""
    out = out or sys.stdout
    session = ChatSession(setup, lambda room: None)
    if sys.stdin.isatty() and out.isatty():
        from bot.devtools.chat.app import ChatApp

        await ChatApp(session).run_async()
    else:
        from bot.devtools.chat.plain import PlainChat

        await PlainChat(session, out).run()
