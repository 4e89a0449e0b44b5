"""Outgoing events: content building (pure) and idempotent sending.

Every message carries ``m.mentions``: an empty list means nobody is pinged, so a
member's name inside a notice never becomes a ping by accident. A send with a
``txn_id`` is recorded in ``core_sent_messages``; sending it again returns the
recorded event id without contacting the homeserver (Synapse only remembers
transaction ids in memory, per device, for a while). Retries of one send always
reuse one transaction id, so a retry after a lost answer cannot double a message.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from nio import Api, AsyncClient, RoomRedactResponse, RoomSendResponse, UploadResponse
from sqlalchemy import delete, select

from bot.clock import Clock
from bot.errors import TransportError
from bot.ids import EventId, RoomId, UserId
from bot.matrix import polls
from bot.matrix.crypto import Crypto
from bot.matrix.homeserver_calls import Backoff, request
from bot.storage.database import Database, log_failure
from bot.storage.models import SentMessage
from bot.tasks import cancel_and_wait
from bot.transport import OutgoingMessage, Poll, Upload

log = logging.getLogger(__name__)

HTML_FORMAT = "org.matrix.custom.html"
#: Attempts per send; waits in between follow ``retry_after_ms`` or the backoff.
# How long a record of a sent message is kept to stop a repeat send.
SENT_RETENTION = timedelta(days=7)
# How long a send may wait in memory before it is written (batched with others).
RECORD_DELAY_S = 0.25
# A redaction of an event that no longer exists has nothing left to do.
_GONE_ERRCODES = ("M_NOT_FOUND",)


def mentions(user_ids: Sequence[UserId]) -> dict[str, Any]:
    return {"user_ids": list(dict.fromkeys(user_ids))}


def relation(thread_root: EventId | None, reply_to: EventId | None) -> dict[str, Any] | None:
    """``m.relates_to`` for a thread message and/or a reply (None for neither)."""
    if thread_root is not None:
        return {
            "rel_type": "m.thread",
            "event_id": thread_root,
            # Without an explicit reply, clients without threads see a reply to the root.
            "is_falling_back": reply_to is None,
            "m.in_reply_to": {"event_id": reply_to or thread_root},
        }
    if reply_to is not None:
        return {"m.in_reply_to": {"event_id": reply_to}}
    return None


def message_content(message: OutgoingMessage) -> dict[str, Any]:
    content: dict[str, Any] = {
        "msgtype": "m.notice" if message.notice else "m.text",
        "body": message.plain,
        "m.mentions": mentions(message.mentions),
    }
    if message.html is not None:
        content["format"] = HTML_FORMAT
        content["formatted_body"] = message.html
    if message.replaces is not None:
        # An edit: clients show m.new_content in place of the original; the rest is
        # the fallback for clients that do not know edits.
        edit = dict(content, body=f"* {message.plain}")
        if message.html is not None:
            edit["formatted_body"] = f"* {message.html}"
        edit["m.new_content"] = content
        edit["m.relates_to"] = {"rel_type": "m.replace", "event_id": message.replaces}
        return edit
    rel = relation(message.thread_root, message.reply_to)
    if rel is not None:
        content["m.relates_to"] = rel
    return content


def reaction_content(event_id: EventId, key: str) -> dict[str, Any]:
    return {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}


def file_content(upload: Upload, content_uri: str, keys: dict[str, Any] | None = None) -> dict[str, Any]:
    """An ``m.file``/``m.image``; with ``keys`` (an encrypted upload) the URI goes in ``file``."""
    content: dict[str, Any] = {
        "msgtype": "m.image" if upload.content_type.startswith("image/") else "m.file",
        "body": upload.filename,
        "filename": upload.filename,
        "info": {"mimetype": upload.content_type, "size": len(upload.data)},
        "m.mentions": mentions(()),
    }
    if keys is not None:
        content["file"] = {**keys, "url": content_uri}
    else:
        content["url"] = content_uri
    rel = relation(upload.thread_root, None)
    if rel is not None:
        content["m.relates_to"] = rel
    return content


class SendTurns:
    """While the homeserver rate-limits the account, sends go one at a time, oldest first.

    The outbox sends to several rooms at once. Under a rate limit (counted per account,
    not per room) each of those sends would wait the ``retry_after`` it was given and
    retry, and whichever got in first would overtake older ones: reminders would
    arrive out of due order. So every send takes a ticket as it starts; after a 429 the
    account is *throttled*, and then a send goes (or retries) only when it holds the
    oldest open ticket. Throttling ends only when no send is open: ending it earlier
    would let every waiting send go at once, and whichever the homeserver took first
    would overtake the older ones.
    """

    def __init__(self) -> None:
        self._tickets = itertools.count()
        self._open: list[int] = []  # tickets of sends under way, oldest first
        self._throttled = False
        self._changed = asyncio.Event()

    @property
    def throttled(self) -> bool:
        return self._throttled

    def start(self) -> int:
        ticket = next(self._tickets)
        self._open.append(ticket)  # tickets only grow: the list stays sorted
        return ticket

    async def wait_turn(self, ticket: int) -> None:
        """Return at once unless throttled; then when ``ticket`` is the oldest."""
        while self._throttled and self._open[0] != ticket:
            changed = self._changed
            await changed.wait()

    async def rate_limited(self, ticket: int) -> None:
        """A 429 for ``ticket``: throttle the account and wait for this send's turn."""
        self._throttled = True
        await self.wait_turn(ticket)

    def finish(self, ticket: int) -> None:
        self._open.remove(ticket)
        if not self._open:
            self._throttled = False
        # Wake every waiter to look again; the next waiters get a fresh event.
        self._changed.set()
        self._changed = asyncio.Event()


class Sender:
    """Sends events with rate-limit retries and the sent-record.

    A send keeps trying while the homeserver is away or asks us to wait (a reply must
    outlast an outage, and its deterministic transaction id makes every retry the same
    event), until the bot stops; a refusal for good raises :class:`MessageRejected`.
    """

    def __init__(
        self,
        client: AsyncClient,
        db: Database,
        clock: Clock,
        max_wait_s: float = 5.0,
        crypto: Crypto | None = None,
    ) -> None:
        self._client = client
        self._crypto = crypto
        self._db = db
        self._clock = clock
        self._max_wait_s = max_wait_s
        self._sent: dict[str, EventId] = {}
        self._unrecorded: list[dict[str, Any]] = []
        self._flush_task: asyncio.Task[None] | None = None
        self._turns = SendTurns()
        self.stopping = False

    def _retrying(self, op: Any, what: str) -> Any:
        return request(
            op,
            what,
            attempts=None,
            backoff=Backoff(0.5, self._max_wait_s),
            keep_trying=lambda: not self.stopping,
        )

    async def _in_turn(self, op: Any, what: str) -> Any:
        """Retry ``op`` like every request, taking turns while rate-limited (see SendTurns)."""
        ticket = self._turns.start()

        async def on_rate_limited() -> None:
            await self._turns.rate_limited(ticket)

        try:
            await self._turns.wait_turn(ticket)
            return await request(
                op,
                what,
                attempts=None,
                backoff=Backoff(0.5, self._max_wait_s),
                keep_trying=lambda: not self.stopping,
                on_rate_limited=on_rate_limited,
            )
        finally:
            self._turns.finish(ticket)

    async def send_message(self, message: OutgoingMessage) -> EventId:
        content = message_content(message)
        return await self._send(
            message.room_id, "m.room.message", content, message.txn_id, in_the_clear=message.in_the_clear
        )

    async def send_event(self, room_id: RoomId, event_type: str, content: dict[str, Any]) -> EventId:
        """Any room event (a verification step), encrypted in an encrypted room; not recorded."""
        return await self._send(room_id, event_type, content, None)

    async def react(self, room_id: RoomId, event_id: EventId, key: str, txn_id: str | None) -> EventId:
        return await self._send(room_id, "m.reaction", reaction_content(event_id, key), txn_id)

    async def send_poll(
        self, room_id: RoomId, poll: Poll, fallback_text: str, fallback_html: str | None, txn_id: str | None
    ) -> EventId:
        content = polls.start_content(poll, fallback_text, fallback_html)
        return await self._send(room_id, polls.START_TYPE, content, txn_id)

    async def end_poll(
        self,
        room_id: RoomId,
        poll_event_id: EventId,
        result_text: str,
        counts: Mapping[str, int],
        txn_id: str | None,
    ) -> EventId:
        content = polls.end_content(poll_event_id, result_text, counts)
        return await self._send(room_id, polls.UNSTABLE_END, content, txn_id)

    async def upload(self, upload: Upload) -> EventId:
        recorded = await self._recorded(upload.txn_id)
        if recorded is not None:
            return recorded

        if self._crypto is not None:
            await self._crypto.prepare_send(upload.room_id)  # nio must know whether to encrypt
        encrypt = self._crypto is not None and self._crypto.is_encrypted(upload.room_id)
        keys: dict[str, Any] | None = None

        async def do_upload() -> Any:
            nonlocal keys
            resp, keys = await self._client.upload(
                io.BytesIO(upload.data),
                content_type="application/octet-stream" if encrypt else upload.content_type,
                filename=upload.filename,
                encrypt=encrypt,
                filesize=len(upload.data),
            )
            return resp

        resp = await self._retrying(do_upload, f"upload to {upload.room_id}")
        if not isinstance(resp, UploadResponse):
            raise TransportError(f"upload to {upload.room_id} failed")
        content = file_content(upload, resp.content_uri, keys if encrypt else None)
        return await self._send(upload.room_id, "m.room.message", content, upload.txn_id)

    async def redact(self, room_id: RoomId, event_id: EventId, reason: str | None) -> None:
        """Redact an event, retried like a send; an event that is gone already is done.

        The transaction id derives from the event, so a retry after a lost answer is
        the same redaction (redacting an already redacted event also succeeds).
        """
        digest = hashlib.sha256(f"{room_id}|{event_id}".encode()).hexdigest()[:24]
        resp = await request(
            lambda: self._client.room_redact(room_id, event_id, reason, tx_id=f"kb.redact.{digest}"),
            f"redacting {event_id} in {room_id}",
            ok_errcodes=_GONE_ERRCODES,
            attempts=None,
            backoff=Backoff(0.5, self._max_wait_s),
            keep_trying=lambda: not self.stopping,
        )
        if isinstance(resp, RoomRedactResponse):
            log.debug("redacted %s in %s", event_id, room_id)
        else:
            log.info("%s in %s was gone already; nothing to redact", event_id, room_id)

    async def _send(
        self,
        room_id: RoomId,
        event_type: str,
        content: dict[str, Any],
        txn_id: str | None,
        in_the_clear: bool = False,
    ) -> EventId:
        recorded = await self._recorded(txn_id)
        if recorded is not None:
            log.debug("txn %s was already sent as %s; not sending again", txn_id, recorded)
            return recorded
        matrix_txn = txn_id or uuid.uuid4().hex

        async def do_send() -> Any:
            if in_the_clear:
                # nio's room_send encrypts in every encrypted room; its request builder
                # and response parsing without that step send the event as it is.
                client = self._client
                call = Api.room_send(client.access_token, room_id, event_type, content, matrix_txn)
                return await client._send(RoomSendResponse, *call)
            # In an encrypted room nio encrypts (sharing the room key first when needed);
            # a retry encrypts again, under the same transaction id.
            options = await self._crypto.prepare_send(room_id) if self._crypto is not None else {}
            return await self._client.room_send(room_id, event_type, content, tx_id=matrix_txn, **options)

        resp = await self._in_turn(do_send, f"sending {event_type} to {room_id}")
        if not isinstance(resp, RoomSendResponse):
            raise TransportError(f"sending {event_type} to {room_id} failed")
        event_id = EventId(resp.event_id)
        if txn_id is not None:
            await self._record(txn_id, room_id, event_id)
        log.debug("sent %s %s to %s", event_type, event_id, room_id)
        return event_id

    async def load_recent(self) -> int:
        """Keep what was sent within the retention window in memory; prune the rest.

        Checking a transaction id against the database before every send cost as much
        as the rest of a reply; a dict costs nothing. Older records can never matter:
        events older than the catch-up window are not handled again, and jobs are
        marked done in their own table.
        """
        cutoff = self._clock.now() - SENT_RETENTION
        async with self._db.transaction() as session:
            await session.execute(delete(SentMessage).where(SentMessage.sent_at < cutoff))
            rows = await session.execute(select(SentMessage.txn_id, SentMessage.event_id))
            self._sent = {txn: EventId(event) for txn, event in rows.all()}
        return len(self._sent)

    async def _recorded(self, txn_id: str | None) -> EventId | None:
        if txn_id is None:
            return None
        return self._sent.get(txn_id)

    async def _record(self, txn_id: str, room_id: RoomId, event_id: EventId) -> None:
        """Remember a send at once in memory, and in the database a moment later.

        The write is batched off the reply's path (see :meth:`flush`). A crash in that
        moment cannot double a reply: a replay sends with the same transaction id from
        the same device, which the homeserver answers with the event it already has.
        """
        self._sent[txn_id] = event_id
        self._unrecorded.append(
            {"txn_id": txn_id, "room_id": room_id, "event_id": event_id, "sent_at": self._clock.now()}
        )
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.create_task(self._flush_later(), name="sent-record")

    async def _flush_later(self) -> None:
        await asyncio.sleep(RECORD_DELAY_S)
        try:
            await self.flush()
        except Exception as exc:
            log_failure(log, exc, "could not record sent messages; retrying with the next send")

    async def close(self) -> None:
        """At shutdown: no more waiting, write what is left."""
        await cancel_and_wait(self._flush_task)
        await self.flush()

    async def flush(self) -> None:
        """Write the sends not yet recorded."""
        rows, self._unrecorded = self._unrecorded, []
        if not rows:
            return
        try:
            async with self._db.transaction() as session:
                await session.execute(
                    self._db.insert(SentMessage)
                    .values(rows)
                    .on_conflict_do_nothing(index_elements=["txn_id"])
                )
        except BaseException:
            self._unrecorded = rows + self._unrecorded
            raise
