"""The feed's address on the organisers' web app, without the web server's imports
(the chat command hands the address out; aiohttp's server loads only when the page is on)."""

from __future__ import annotations

ROUTE = "calendar_feed"
PREFIX = "/agenda/"


def path_of(token: str) -> str:
    return f"{PREFIX}{token}.ics"
