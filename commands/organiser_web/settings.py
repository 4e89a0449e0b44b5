"""The ``web:`` section of the config: the organisers' web page is off without it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.settings import Invalid, Scope, Settings, setting


def _listen(value: Any, scope: Scope) -> str:
    text = str(value).strip()
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise Invalid("must be host:port, like 127.0.0.1:8087")
    return text


def _url(value: Any, scope: Scope) -> str:
    text = str(value).strip().rstrip("/")
    if not text.startswith(("http://", "https://")):
        raise Invalid("must start with http:// or https://")
    return text


@dataclass(frozen=True)
class WebSettings(Settings):
    section = "web"

    # Where the bot listens; empty (no ``web:`` section) means no web page at all.
    listen: str = setting("", read=_listen)
    # The address organisers open (behind a proxy it differs from ``listen``).
    public_url: str = setting("", read=_url)

    @property
    def enabled(self) -> bool:
        return bool(self.listen)

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.listen}"
