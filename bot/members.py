"""What the core keeps per member (chosen language, nudge opt-out), and the one way to
reach a member: :meth:`MemberService.tell`.

**The rule for how a message reaches a member** (made here, nowhere else): a message
that answers what the member just did (their own command or conversation answer, given
as ``answering``) is sent directly, because the member is waiting and the handled
event's bookkeeping (its claim and the transaction ids derived from it) already makes
it exactly-once. Everything the bot starts by itself (jobs, telling a member about
someone else's action, fan-outs) goes through the outbox: durable across restarts,
rate-limited, sent once by its transaction id, in order per room.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from bot.clock import Clock
from bot.errors import UserError
from bot.formatting import Markup, Rendered
from bot.i18n import LANGUAGES, Catalogue
from bot.ids import RoomId, UserId
from bot.replies import error_reply
from bot.storage import Database
from bot.storage.models import Member
from bot.storage.results import rowcount
from bot.transport import Attachment, OutgoingMessage, Transport, Upload

if TYPE_CHECKING:
    from bot.context import Context
    from bot.outbox import Outbox

log = logging.getLogger(__name__)

#: A message parameter: a value, or a function of the member's language giving one.
Param = Any
#: Files for a member: given, or made for the member's language (a calendar file).
Files = Sequence[Attachment] | Callable[[str], Sequence[Attachment]]


class MemberService:
    """Reads and writes :class:`~bot.storage.models.Member` rows; caches languages; tells
    members things in their DM."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        default_language: str,
        *,
        transport: Transport | None = None,
        catalogue: Catalogue | None = None,
        outbox: Outbox | None = None,
        command_prefix: str = "!",
    ) -> None:
        self._db = db
        self._clock = clock
        self.default_language = default_language
        self._transport = transport
        self._catalogue = catalogue
        self._outbox = outbox
        self._prefix = command_prefix
        # Languages are read on every message; the cache is filled lazily and kept
        # in step with every write made through this service.
        self._language_cache: dict[str, str] = {}

    async def language_of(self, user_id: UserId) -> str:
        cached = self._language_cache.get(user_id)
        if cached is not None:
            return cached
        async with self._db.session() as session:
            chosen = await session.scalar(select(Member.language).where(Member.user_id == user_id))
        language = chosen if chosen in LANGUAGES else self.default_language
        self._language_cache[user_id] = language
        return language

    # ------------------------------------------------------------------ reaching

    async def direct_room(self, user_id: UserId) -> RoomId:
        """The member's DM room (created when there is none)."""
        return await self._wired()[0].direct_room(user_id)

    async def tell(
        self,
        user_id: UserId,
        key: str,
        /,
        *,
        txn_id: str,
        answering: Context | None = None,
        due_at: datetime | None = None,
        files: Files = (),
        **params: Param,
    ) -> None:
        """Tell one member ``key`` in their DM, in their language, by the rule above.

        ``params`` may be functions of the language (dates, labels, fragments); ``files``
        are uploaded after the text (transaction ids ``{txn_id}.f0``, ``.f1`` …); a failed
        upload is logged, the text stands. ``due_at`` delays an outbox message.
        """
        transport, catalogue, outbox = self._wired()
        language = await self.language_of(user_id)
        rendered = catalogue.render(language, key, **_for_language(params, language))
        if answering is not None and answering.sender == user_id:
            room = answering.room_id if answering.is_direct else await transport.direct_room(user_id)
            await transport.send(
                OutgoingMessage(room_id=room, plain=rendered.plain, html=rendered.html, txn_id=txn_id)
            )
        else:
            room = await transport.direct_room(user_id)
            await outbox.enqueue(
                OutgoingMessage(room_id=room, plain=rendered.plain, html=rendered.html, txn_id=txn_id),
                due_at=due_at,
            )
        attachments = files(language) if callable(files) else files
        for index, attachment in enumerate(attachments):
            await self._upload(room, attachment, f"{txn_id}.f{index}")

    async def tell_many(
        self,
        user_ids: Sequence[UserId],
        key: str,
        /,
        *,
        txn_id: Callable[[UserId], str],
        due_at: datetime | None = None,
        **params: Param,
    ) -> int:
        """Tell each member the same thing through the outbox: rendered once per language,
        queued in one write (a reminder to fifty is one insert). Returns how many.

        Should one member's DM fail to open, those before are queued all the same; a
        retry of the caller adds the rest (the transaction ids make the repeat harmless).
        """
        transport, catalogue, outbox = self._wired()
        texts: dict[str, Rendered] = {}
        messages: list[OutgoingMessage] = []
        try:
            for user_id in user_ids:
                language = await self.language_of(user_id)
                if language not in texts:
                    texts[language] = catalogue.render(language, key, **_for_language(params, language))
                rendered = texts[language]
                room = await transport.direct_room(user_id)
                messages.append(
                    OutgoingMessage(
                        room_id=room, plain=rendered.plain, html=rendered.html, txn_id=txn_id(user_id)
                    )
                )
        finally:
            await outbox.enqueue_many(messages, due_at=due_at)
        return len(messages)

    def mention(self, language: str, user_id: str) -> Markup:
        """A member's name as a link the transport makes (``core.mention``); it pings
        nobody, since messages name whom they mention explicitly."""
        transport, catalogue, _ = self._wired()
        link = transport.user_permalink(UserId(user_id))
        return catalogue.fragment(language, "core.mention", user=user_id, link=link)

    async def tell_error(self, user_id: UserId, error: UserError, *, txn_id: str) -> None:
        """A mistake where no command is answered (a reaction, a job), told in the DM and
        rendered as the router renders it."""
        transport, catalogue, _ = self._wired()
        language = await self.language_of(user_id)
        rendered = error_reply(catalogue, language, error, prefix=self._prefix)
        room = await transport.direct_room(user_id)
        try:
            await transport.send(
                OutgoingMessage(room_id=room, plain=rendered.plain, html=rendered.html, txn_id=txn_id)
            )
        except Exception:
            log.exception("could not tell %s about an error (%s)", "a member", error.key)

    async def _upload(self, room: RoomId, attachment: Attachment, txn_id: str) -> None:
        transport = self._wired()[0]
        try:
            await transport.upload(
                Upload(
                    room_id=room,
                    data=attachment.data,
                    filename=attachment.filename,
                    content_type=attachment.content_type,
                    txn_id=txn_id,
                )
            )
        except Exception:
            log.exception("a file (%s) could not be sent", attachment.filename)

    def _wired(self) -> tuple[Transport, Catalogue, Outbox]:
        if self._transport is None or self._catalogue is None or self._outbox is None:
            raise RuntimeError("MemberService was built without a transport, catalogue and outbox")
        return self._transport, self._catalogue, self._outbox

    # ---------------------------------------------------------------- member rows

    async def set_language(self, user_id: UserId, language: str) -> None:
        async with self._db.transaction() as session:
            member = await session.get(Member, user_id)
            if member is None:
                session.add(Member(user_id=user_id, language=language, first_seen=self._clock.now()))
            else:
                member.language = language
        self._language_cache[user_id] = language

    async def export_member(self, user_id: UserId) -> dict[str, Any]:
        async with self._db.session() as session:
            member = await session.get(Member, user_id)
        if member is None:
            return {}
        return {
            "language": member.language,
            "nudges_opt_out": member.nudges_opt_out,
            "first_seen": member.first_seen.isoformat(),
        }

    async def erase_member(self, user_id: UserId) -> int:
        async with self._db.transaction() as session:
            result = await session.execute(delete(Member).where(Member.user_id == user_id))
        self._language_cache.pop(user_id, None)
        return rowcount(result)


def _for_language(params: Mapping[str, Param], language: str) -> dict[str, Any]:
    """Parameters with the language-dependent ones made for ``language``."""
    return {name: value(language) if callable(value) else value for name, value in params.items()}
