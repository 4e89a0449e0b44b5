"""``MatrixTransport``: the core's :class:`~bot.transport.Transport` on Matrix, via nio.

Life cycle::

    transport = MatrixTransport(config, db, clock, rooms)
    await transport.connect()                       # credentials, whoami
    await transport.setup_community(room_names, space_name)
    runner = asyncio.create_task(transport.run(handler))
    await transport.wait_until_synced()
    ...
    await transport.stop()                          # ends run(), closes the HTTP session

``run()`` awaits ``handler`` once per incoming event, in order per room; keep the
handler short and hand long work to a task (see :mod:`bot.matrix.sync`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from nio import (
    MessageDirection,
    RoomEncryptedFile,
    RoomEncryptedImage,
    RoomMessageFile,
    RoomMessageImage,
    RoomMessagesResponse,
)

from bot.clock import Clock
from bot.config import Config
from bot.ids import EventId, RoomId, UserId
from bot.matrix.client import authenticate, build_client
from bot.matrix.community import CommunitySetup
from bot.matrix.crypto import Crypto
from bot.matrix.direct_chat_rooms import DirectChats
from bot.matrix.key_backup import RestoreReport
from bot.matrix.room_state import RoomState
from bot.matrix.rooms import RoomManager
from bot.matrix.sending import Sender
from bot.matrix.sync import SyncLoop
from bot.matrix.verification import InRoomVerification
from bot.room_directory import RoomDirectory
from bot.storage.database import Database
from bot.transport import EventHandler, OutgoingMessage, Poll, RoomSpec, RoomStateOfType, SentFile, Upload

#: The links clients open as a room, a message or a member (see :meth:`MatrixTransport.permalink`).
PERMALINK_BASE = "https://matrix.to/#/"

log = logging.getLogger(__name__)

#: :meth:`MatrixTransport.files_sent` reads at most this many pages of a room's history.
HISTORY_PAGES = 50
HISTORY_PAGE_SIZE = 100
_FILE_EVENTS = (RoomMessageFile, RoomMessageImage, RoomEncryptedFile, RoomEncryptedImage)

#: How long :meth:`MatrixTransport.stop` waits for ``run()`` to finish its current event.
STOP_GRACE_S = 10.0


class MatrixTransport:
    """The Matrix transport; the only object outside ``bot.matrix`` that knows about nio."""

    def __init__(
        self,
        config: Config,
        db: Database,
        clock: Clock,
        rooms: RoomDirectory,
    ) -> None:
        self._config = config
        self._client = build_client(config)
        self._directory = rooms
        self._crypto = Crypto(self._client, config, db, clock)
        self._rooms = RoomManager(self._client, config, rooms)
        self._direct = DirectChats(self._client, config, db, clock, rooms, self._rooms)
        self._sender = Sender(self._client, db, clock, config.matrix.max_retry_wait_s, self._crypto)
        verifications = self._verifications(clock) if config.matrix.sas_verification else None
        self._sync = SyncLoop(
            self._client, config, db, clock, self._rooms, self._direct, rooms, self._crypto, verifications
        )
        self._db = db
        self._state = RoomState(self._client, UserId(config.matrix.user_id))
        self._run_finished = asyncio.Event()
        self._run_finished.set()

    def _verifications(self, clock: Clock) -> InRoomVerification:
        """Members verifying the bot in their DM; the keys are read when a step needs them
        (the device and the cross-signing keys exist only after login)."""
        client = self._client

        def own_device_key() -> str | None:
            return client.olm.account.identity_keys["ed25519"] if client.olm is not None else None

        def their_device_key(user_id: UserId, device_id: str) -> str | None:
            device = client.olm.device_store[user_id].get(device_id) if client.olm is not None else None
            return device.ed25519 if device is not None else None

        return InRoomVerification(
            UserId(self._config.matrix.user_id),
            lambda: client.device_id,
            own_device_key,
            self._crypto.cross_signing.master_public_key,
            their_device_key,
            self._sender.send_event,
            clock,
        )

    # ------------------------------------------------------------------ life cycle

    @property
    def own_user_id(self) -> UserId:
        return UserId(self._config.matrix.user_id)

    @property
    def server_name(self) -> str:
        return self._config.matrix.server_name

    def permalink(self, room_id: RoomId, event_id: EventId | None = None) -> str:
        return f"{PERMALINK_BASE}{room_id}/{event_id}" if event_id else f"{PERMALINK_BASE}{room_id}"

    def user_permalink(self, user_id: UserId) -> str:
        return f"{PERMALINK_BASE}{user_id}"

    @property
    def last_sync_ok(self) -> datetime | None:
        """When the last sync batch was fully handled (None before the first one)."""
        return self._sync.last_sync_ok

    async def connect(self) -> None:
        """Log in (stored token, configured token, or password once) and load DM knowledge.

        Raises :class:`~bot.errors.InvalidCredentials` when the homeserver rejects every
        credential, :class:`~bot.errors.TransportError` when it cannot be reached.
        """
        await self._sync.record_first_start()
        await self._crypto.prepare()
        await authenticate(self._client, self._config, self._db)
        await self._crypto.load()
        await self._direct.load()
        await self._sender.load_recent()

    async def restore_keys(self) -> RestoreReport | None:
        """Log in and restore the room keys from the key backup with ``matrix.recovery_key``
        (the ``restore-keys`` command; the bot itself must not run). None: encryption off."""
        await self._crypto.prepare()
        await authenticate(self._client, self._config, self._db)
        try:
            return await self._crypto.load(restore_keys=True)
        finally:
            await self._client.close()

    async def setup_community(self, room_names: Mapping[str, tuple[str, str]], space_name: str) -> None:
        """Find or create the space and the configured rooms and fill the room directory.

        ``room_names`` maps logical names (``welcome``, ``theme:<key>``) to (name, topic)
        used when a room has to be created. Idempotent.
        """
        await CommunitySetup(self._client, self._config, self._db, self._rooms, self._directory).setup(
            room_names, space_name
        )

    async def run(self, handler: EventHandler) -> None:
        """Sync until :meth:`stop`; raises InvalidCredentials when the token dies."""
        if not self._run_finished.is_set():
            raise RuntimeError("MatrixTransport.run() is already running")
        self._run_finished.clear()
        self._crypto.report_to(handler)  # new devices are reported like events
        try:
            await self._sync.run(handler)
        finally:
            self._run_finished.set()

    async def wait_until_synced(self, timeout: float | None = None) -> None:
        """Return once the first sync batch of :meth:`run` has been handled."""
        await asyncio.wait_for(self._sync.synced.wait(), timeout)

    async def stop(self) -> None:
        """End :meth:`run` after the event being handled, then close the HTTP session."""
        self._sync.request_stop()
        self._sender.stopping = True
        if not self._run_finished.is_set():
            try:
                await asyncio.wait_for(self._run_finished.wait(), STOP_GRACE_S)
            except TimeoutError:
                log.warning("the sync loop did not stop within %.0fs", STOP_GRACE_S)
        try:
            await self._sender.close()
        except Exception:
            log.warning("could not record the last sent messages", exc_info=True)
        await self._client.close()

    # --------------------------------------------------------------------- sending

    async def send(self, message: OutgoingMessage) -> EventId:
        return await self._sender.send_message(message)

    async def react(self, room_id: RoomId, event_id: EventId, key: str, txn_id: str | None = None) -> EventId:
        return await self._sender.react(room_id, event_id, key, txn_id)

    async def upload(self, upload: Upload) -> EventId:
        return await self._sender.upload(upload)

    async def send_poll(
        self,
        room_id: RoomId,
        poll: Poll,
        fallback_text: str,
        *,
        fallback_html: str | None = None,
        txn_id: str | None = None,
    ) -> EventId:
        return await self._sender.send_poll(room_id, poll, fallback_text, fallback_html, txn_id)

    async def end_poll(
        self,
        room_id: RoomId,
        poll_event_id: EventId,
        result_text: str,
        counts: Mapping[str, int],
        *,
        txn_id: str | None = None,
    ) -> EventId:
        return await self._sender.end_poll(room_id, poll_event_id, result_text, counts, txn_id)

    async def redact(self, room_id: RoomId, event_id: EventId, reason: str | None = None) -> None:
        await self._sender.redact(room_id, event_id, reason)

    # ----------------------------------------------------------------------- rooms

    async def direct_room(self, user_id: UserId) -> RoomId:
        return await self._direct.direct_room(user_id)

    async def forget_direct_room(self, user_id: UserId) -> None:
        dropped = await self._direct.forget_direct_room(user_id)
        # While the DM is still known: its room keys leave the key backup too.
        await self._crypto.backup.forget(dropped, [])

    async def create_room(self, spec: RoomSpec) -> RoomId:
        room_id = await self._rooms.create_room(spec)
        self._direct.note_created(room_id, spec)
        return room_id

    # ---------------------------------------------------------------- privacy

    async def files_sent(self, room_id: RoomId) -> list[SentFile]:
        """The bot's file events in the room's history (nio decrypts them with the room
        keys the bot keeps of its own messages); redacted ones carry no file any more.

        Read from the history, not from ``core_sent_messages``: that record is pruned
        after a week, a file in a member's chat is not.
        """
        client, found = self._client, []
        token = ""
        message_filter = {
            "senders": [self._config.matrix.user_id],
            "types": ["m.room.message", "m.room.encrypted"],
        }
        for _ in range(HISTORY_PAGES):
            resp = await client.room_messages(
                room_id,
                start=token,
                direction=MessageDirection.back,
                limit=HISTORY_PAGE_SIZE,
                message_filter=message_filter,
            )
            if not isinstance(resp, RoomMessagesResponse):
                log.warning("could not read the history of %s: %s", room_id, getattr(resp, "message", resp))
                break
            for event in resp.chunk:
                if isinstance(event, _FILE_EVENTS) and event.sender == self._config.matrix.user_id:
                    found.append(
                        SentFile(
                            event_id=EventId(event.event_id),
                            filename=event.body,
                            sent_at=datetime.fromtimestamp(event.server_timestamp / 1000, UTC),
                            content_uri=event.url,
                        )
                    )
            if not resp.chunk or not resp.end or resp.end == token:
                break
            token = resp.end
        return sorted(found, key=lambda f: f.sent_at)

    async def member_data(self, user_id: UserId) -> dict[str, Any]:
        return await self._crypto.member_data(user_id)

    async def forget_member(self, user_id: UserId) -> int:
        return await self._crypto.forget_member(user_id)

    async def power_level(self, room_id: RoomId, user_id: UserId) -> int:
        return await self._rooms.power_level(room_id, user_id)

    async def is_direct(self, room_id: RoomId) -> bool:
        return await self._direct.is_direct(room_id)

    async def room_members(self, room_id: RoomId) -> list[UserId]:
        return await self._rooms.room_members(room_id)

    async def read_room_state(self, room_id: RoomId, event_type: str) -> RoomStateOfType:
        return await self._state.read(room_id, event_type)

    async def publish_room_state(
        self, room_id: RoomId, event_type: str, state_key: str, content: Mapping[str, Any]
    ) -> EventId:
        return await self._state.publish(room_id, event_type, state_key, content)
