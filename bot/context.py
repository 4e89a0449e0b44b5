"""The context a command or conversation step runs in: who, where, which language,
and the services to act with (RoboDanny's ``ctx`` idea)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.formatting import Markup, Rendered
from bot.i18n import format_datetime
from bot.ids import EventId, RoomId, UserId
from bot.transport import IncomingMessage, OutgoingMessage, Upload

if TYPE_CHECKING:
    from bot.registry import Command
    from bot.services import Services


def reply_txn_id(event_id: str, index: int) -> str:
    """A transaction id derived from the event answered, so a retry cannot double a reply."""
    digest = hashlib.sha256(event_id.encode()).hexdigest()[:24]
    return f"kb.{digest}.{index}"


@dataclass
class Context:
    services: Services
    message: IncomingMessage
    language: str
    command: Command | None = None
    invoked_with: str = ""
    _sent: int = field(default=0, repr=False)

    @property
    def sender(self) -> UserId:
        return self.message.sender

    @property
    def room_id(self) -> RoomId:
        return self.message.room_id

    @property
    def is_direct(self) -> bool:
        return self.message.is_direct

    @property
    def prefix(self) -> str:
        return self.services.config.community.command_prefix

    def next_txn_id(self) -> str:
        """The transaction id of this context's next message: derived from the event
        answered, so a replay after a crash sends nothing twice."""
        self._sent += 1
        return reply_txn_id(self.message.event_id, self._sent)

    def text(self, key: str, /, **params: Any) -> str:
        """Plain text of a catalogue key in the member's language."""
        return self.services.catalogue.plain(self.language, key, **params)

    def fragment(self, key: str, /, **params: Any) -> Markup:
        """A trusted, escaped fragment to embed in a larger message."""
        return self.services.catalogue.fragment(self.language, key, **params)

    def when(self, moment: datetime, fmt: str = "long") -> str:
        """A moment shown in the community's time zone and the member's language."""
        return format_datetime(moment, self.language, self.services.config.community.timezone, fmt)

    async def reply(self, key: str, /, *, mentions: Sequence[UserId] = (), **params: Any) -> EventId:
        """Answer in the same room (and thread) as a notice."""
        return await self.reply_rendered(
            self.services.catalogue.render(self.language, key, **params), mentions
        )

    async def reply_rendered(self, rendered: Rendered, mentions: Sequence[UserId] = ()) -> EventId:
        """Answer with a message rendered earlier (a cached one, say)."""
        return await self.services.transport.send(
            OutgoingMessage(
                room_id=self.room_id,
                plain=rendered.plain,
                html=rendered.html,
                thread_root=self.message.thread_root,
                reply_to=None if self.message.thread_root else self.message.event_id,
                mentions=tuple(mentions),
                txn_id=self.next_txn_id(),
            )
        )

    async def send_dm(self, key: str, /, **params: Any) -> None:
        """Send to the sender's direct chat (creating it when needed); the member is
        waiting for it, so it goes directly (see :mod:`bot.members`)."""
        await self.services.members.tell(
            self.sender, key, txn_id=self.next_txn_id(), answering=self, **params
        )

    async def react(self, key: str) -> EventId:
        self._sent += 1
        return await self.services.transport.react(
            self.room_id, self.message.event_id, key, txn_id=reply_txn_id(self.message.event_id, self._sent)
        )

    async def upload(self, data: bytes, filename: str, content_type: str, *, to_dm: bool = False) -> EventId:
        room = self.room_id
        if to_dm and not self.is_direct:
            room = await self.services.transport.direct_room(self.sender)
        return await self.services.transport.upload(
            Upload(
                room_id=room,
                data=data,
                filename=filename,
                content_type=content_type,
                txn_id=self.next_txn_id(),
            )
        )
