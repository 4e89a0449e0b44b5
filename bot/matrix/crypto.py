"""End-to-end encryption: one device with its crypto store, keys for members, and
messages that cannot be decrypted yet.

nio does the cryptography (vodozemac). This module decides the rest:

- **One device.** The store (Olm account, sessions, room keys; nio's SQLite store, one
  file per user and device) lives in ``matrix.store_path`` and is pickled with
  ``matrix.store_key`` (or ``$KENNISBRUG_MATRIX_STORE_KEY``, or the keys file, see
  :mod:`bot.secrets`). Without one, a random key is generated once and kept in
  ``core_state`` (never nio's built-in default). The
  device id and token are kept by :mod:`bot.matrix.client`, so a restart opens the same
  store and no key is lost.
- **Cross-signed.** At every start the device is signed by the account's
  self-signing key (:mod:`bot.matrix.cross_signing_setup`), so clients trust it.
- **Housekeeping after every sync**, as ``sync_forever`` would do it: upload one-time
  keys, query changed devices, claim keys for new Olm sessions, send queued to-device
  messages (key requests).
- **Sending.** nio encrypts in ``room_send``; :meth:`Crypto.prepare_send` makes sure nio
  knows the room (a room created a moment ago, or one not synced yet) and shares the
  room key with every device that is not blacklisted. Which devices are:
  :mod:`bot.matrix.device_trust` (``trust: tofu``, trust on first use, the default; or
  ``all``).
- **Undecryptable messages** (:mod:`bot.matrix.undecrypted`): kept durably in
  ``core_state``; keys are requested from the sender's devices, decryption is retried
  after every sync, and after ``matrix.undecryptable_wait_s`` the sync loop tells the
  member once.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets as _random
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    EncryptionError,
    ErrorResponse,
    Event,
    LocalProtocolError,
    MatrixRoom,
    MegolmEvent,
    RoomGetStateResponse,
    RoomMemberEvent,
)

from bot.clock import Clock
from bot.config import Config
from bot.errors import ConfigError, TransportError
from bot.ids import RoomId, UserId
from bot.locks import KeyedLocks
from bot.matrix.client import BotClient
from bot.matrix.cross_signing_setup import CrossSigning
from bot.matrix.device_trust import DeviceTrust
from bot.matrix.homeserver_calls import TRANSIENT_EXCEPTIONS, request
from bot.matrix.store_erasure import erase_from_store
from bot.matrix.undecrypted import MAX_PENDING, UNDECRYPTED, PendingDecryptions, Undecrypted
from bot.secrets import STORE_KEY as STORE_KEY_SECRET
from bot.secrets import Secrets
from bot.storage.database import Database
from bot.transport import EventHandler

__all__ = [
    "MAX_PENDING",
    "STORE_KEY",
    "UNDECRYPTED",
    "Crypto",
    "CryptoStoreError",
    "PendingDecryptions",
    "Undecrypted",
]

log = logging.getLogger(__name__)

#: The ``core_state`` key of the generated pickle key.
STORE_KEY = STORE_KEY_SECRET.state_key


class RoomKeyNotDelivered(ConnectionError):
    """A new room key did not reach every member's device; the send is retried like an
    outage (it is a ``ConnectionError``, which the retry loop treats as transient)."""


class CryptoStoreError(ConfigError):
    """The crypto store cannot be opened (wrong ``matrix.store_key``, unreadable folder).

    A configuration problem: the command line reports it like one and exits with 2.
    """

    def __init__(self, problem: str) -> None:
        super().__init__([problem])


class Crypto:
    """The encryption side of the adapter; every method is a no-op with encryption off."""

    def __init__(
        self, client: AsyncClient, config: Config, db: Database, clock: Clock, secrets: Secrets | None = None
    ) -> None:
        self._client = client
        self._secrets = secrets if secrets is not None else Secrets.from_environment()
        self._config = config
        self._db = db
        self._clock = clock
        self._own = UserId(config.matrix.user_id)
        self.pending = PendingDecryptions(db, config.matrix.undecryptable_wait_s)
        self._sharing: KeyedLocks[str] = KeyedLocks()
        self.trust = DeviceTrust(client, db, clock, config.matrix.trust, self._own)
        self.cross_signing = CrossSigning(client, config, db, self._secrets)
        if isinstance(client, BotClient):
            client.keys_observer = self.trust.observe

    @property
    def enabled(self) -> bool:
        return self._client.olm is not None

    # ------------------------------------------------------------------ the store

    async def prepare(self) -> None:
        """Before login: the store's folder and pickle key (a password login opens the store)."""
        m = self._config.matrix
        if not m.encryption:
            return
        key = m.store_key or await self._generated_key()
        path = Path(m.store_path)
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise CryptoStoreError(f"matrix.store_path: cannot create {path} ({exc.strerror})") from exc
        self._client.store_path = str(path)
        self._client.config = dataclasses.replace(self._client.config, pickle_key=key)

    async def _generated_key(self) -> str:
        # A key from the environment or the keys file is never written to the database.
        return await self._secrets.get_or_generate(
            self._db, STORE_KEY_SECRET, generate=lambda: _random.token_urlsafe(32)
        )

    async def load(self) -> None:
        """After login: open this device's store and publish its keys when needed."""
        if not self._config.matrix.encryption:
            return
        try:
            self._client.load_store()
        except Exception as exc:
            raise CryptoStoreError(
                f"matrix.store_key: the crypto store in {self._config.matrix.store_path} cannot be "
                f"opened for device {self._client.device_id} ({type(exc).__name__}); is this the key "
                "it was made with?"
            ) from exc
        if self._client.olm is None:
            raise CryptoStoreError("matrix.store_path: encryption is on, but nio could not load the store")
        log.info(
            "end-to-end encryption on: device %s, store in %s",
            self._client.device_id,
            self._client.store_path,
        )
        await self.pending.load()
        await self.trust.start()
        await self.housekeeping()  # the device's keys are published before they are signed
        account = self._client.olm.account
        await self.cross_signing.at_start(account.identity_keys["ed25519"], account.sign)

    def report_to(self, handler: EventHandler) -> None:
        """Where new devices are reported (the core's handler, once the sync loop runs)."""
        self.trust.report_to(handler)

    # ------------------------------------------------------------------ erasure

    async def member_data(self, user_id: UserId) -> dict[str, Any]:
        """What the encryption side keeps about a member, for their export."""
        data: dict[str, Any] = {}
        waiting = self.pending.of_member(user_id)
        if waiting:
            data["undecryptable_messages"] = [
                {
                    "room_id": item.room_id,
                    "event_id": item.event_id,
                    "first_seen": item.first_seen.isoformat(),
                }
                for item in waiting
            ]
        olm = self._client.olm
        devices = list(olm.device_store[user_id].values()) if olm is not None else []
        if devices:
            # Public keys the homeserver publishes for every device; no secrets.
            data["devices"] = [{"device_id": d.id, "display_name": d.display_name} for d in devices]
        trusted = self.trust.export(user_id)
        if trusted:
            # Trust on first use: the devices (and keys) the bot trusts for the member.
            data["trusted_devices"] = trusted
        return data

    async def forget_member(self, user_id: UserId) -> int:
        """Drop the member's waiting messages and what the crypto store keeps about them.

        Their device keys, trust records (nio's, and the devices trusted on first use),
        Olm sessions with their devices and the room keys their devices sent go, from
        memory and from nio's SQLite store (which overwrites deleted rows:
        ``secure_delete``). Outbound room keys shared with them
        are dropped, so the next message in such a room gets a new key for everyone:
        other members lose nothing. While the member still shares an encrypted room
        with the bot (their DM), their public device keys are fetched again from the
        homeserver, so that they can read what the bot still sends them there (that
        fetch is not a first meeting: nothing is recorded about them again).
        """
        removed = self.pending.forget_member(user_id)
        await self.pending.save()
        removed += await self.trust.forget(user_id)
        olm = self._client.olm
        if olm is None or user_id == self._own:
            return removed
        devices = list(olm.device_store[user_id].values())
        olm.device_store._entries.pop(user_id, None)
        curve_keys = {device.curve25519 for device in devices if device.curve25519}
        for key in curve_keys:
            removed += len(olm.session_store._entries.pop(key, []))
        for room_sessions in olm.inbound_group_store._entries.values():
            for key in curve_keys:
                removed += len(room_sessions.pop(key, {}))
        for room_id, session in list(olm.outbound_group_sessions.items()):
            if any(user == user_id for user, _ in session.users_shared_with | session.users_ignored):
                del olm.outbound_group_sessions[room_id]
        olm.tracked_users.discard(user_id)
        olm.users_for_key_query.discard(user_id)
        if any(room.encrypted and user_id in room.users for room in self._client.rooms.values()):
            # Still in an encrypted chat with the bot (their DM, where the confirmation
            # goes): their public device keys are fetched again, or they could not read it.
            olm.tracked_users.add(user_id)
            olm.users_for_key_query.add(user_id)
        store = self._client.store
        if store is not None:
            removed += erase_from_store(store, user_id, devices, curve_keys)
        log.info("erased a forgotten member's encryption records (%d)", removed)
        if user_id in olm.users_for_key_query:
            # Before the confirmation is sent, not after the next sync: a room key shared
            # now must reach their devices.
            try:
                with self.trust.not_meeting(user_id):
                    await request(self._client.keys_query, "querying device keys")
            except (TransportError, LocalProtocolError, *TRANSIENT_EXCEPTIONS) as exc:
                log.warning("could not fetch a member's device keys again (%s); after the next sync", exc)
        return removed

    # -------------------------------------------------------------- after a sync

    async def housekeeping(self) -> None:
        """Upload keys, query devices, claim one-time keys and send to-device messages.

        A failure is logged and retried after the next sync; it never stops the batch.
        """
        client = self._client
        if client.olm is None:
            return
        try:
            if client.should_upload_keys:
                await request(client.keys_upload, "uploading encryption keys")
            if client.should_query_keys:
                await request(client.keys_query, "querying device keys")
            if client.should_claim_keys:
                users = client.get_users_for_key_claiming()
                await request(lambda: client.keys_claim(users), "claiming one-time keys")
            if client.outgoing_to_device_messages:
                await client.send_to_device_messages()
        except (TransportError, LocalProtocolError, *TRANSIENT_EXCEPTIONS) as exc:
            log.warning("encryption housekeeping failed (%s); retrying after the next sync", exc)
        # New devices found by any key query since the last batch: told before the
        # batch is handled (and before the bot answers the new device).
        await self.trust.flush()

    # ------------------------------------------------------------------ sending

    async def prepare_send(self, room_id: RoomId) -> dict[str, Any]:
        """Arguments for ``room_send``; nio learns the room first if it has not synced it."""
        client = self._client
        if client.olm is None:
            return {}
        room = client.rooms.get(room_id)
        if room is None or (room.encrypted and not room.members_synced):
            # After a restart nio knows a room only from what the incremental sync
            # carried (often just the bot), and its own fallback lists *joined* members
            # only: a member invited to a DM before the restart would never get the room
            # key. The room's full state names the invited members too.
            room = await self._load_room(room_id)
        if room.encrypted:
            await self._share_room_key(room)
        # Nobody can verify a device with the bot: every device that is not blacklisted
        # (see bot.matrix.device_trust) gets the room key.
        return {"ignore_unverified_devices": True}

    async def _share_room_key(self, room: MatrixRoom) -> None:
        """Share a new room key before ``room_send`` would, and make sure every device got it.

        nio's own sharing marks the key as shared even when a to-device request failed
        (an outage, a restarting homeserver), and the message is then encrypted with a
        key the member never receives. And when claiming one-time keys fails, nio never
        clears its "sharing now" flag, so every later send to the room would wait
        forever. Here a key not delivered to every device is dropped (the retry makes
        and shares a new one) and the send is retried like any outage.
        """
        # One share per room at a time: concurrent sends (a reply and a reminder) would
        # otherwise both start one, and nio refuses the second.
        async with self._sharing.hold(room.room_id):
            await self._share_room_key_now(room)

    async def _share_room_key_now(self, room: MatrixRoom) -> None:
        client, olm = self._client, self._client.olm
        if olm is None or not olm.should_share_group_session(room.room_id):
            return
        missing = client.get_missing_sessions(room.room_id)
        if missing:
            # Failures here count as an outage for the retry loop around the send.
            claimed = await client.keys_claim(missing)
            if isinstance(claimed, ErrorResponse):
                raise RoomKeyNotDelivered(f"claiming one-time keys for {room.room_id} failed")
        try:
            await client.share_group_session(room.room_id, ignore_unverified_devices=True)
        finally:
            stuck = client.sharing_session.pop(room.room_id, None)
            if stuck is not None:
                stuck.set()
        owed = self._devices_without_key(room)
        if owed:
            olm.outbound_group_sessions.pop(room.room_id, None)
            raise RoomKeyNotDelivered(
                f"the room key for {room.room_id} did not reach {len(owed)} device(s); sharing a new one"
            )

    def _devices_without_key(self, room: MatrixRoom) -> list[tuple[str, str]]:
        """Devices nio would have shared the room's current key with, but did not.

        The same choice as nio's: not the bot's own device, not blacklisted ones, and
        only devices with an Olm session (one without a one-time key cannot get it now).
        """
        olm = self._client.olm
        session = olm.outbound_group_sessions.get(room.room_id) if olm is not None else None
        if olm is None or session is None:
            return []
        owed = []
        for user_id in list(room.users):
            for device in olm.device_store.active_user_devices(user_id):
                pair = (user_id, device.id)
                if device.id == olm.device_id or olm.is_device_blacklisted(device):
                    continue
                if pair in session.users_shared_with or pair in session.users_ignored:
                    continue
                if olm.session_store.get(device.curve25519) is not None:
                    owed.append(pair)
        return owed

    def is_encrypted(self, room_id: RoomId) -> bool:
        room = self._client.rooms.get(room_id)
        return self._client.olm is not None and room is not None and room.encrypted

    async def _load_room(self, room_id: RoomId) -> MatrixRoom:
        """nio's room from the room's current state (members, invited ones too, and encryption)."""
        client = self._client
        resp = await request(lambda: client.room_get_state(room_id), f"reading the state of {room_id}")
        if not isinstance(resp, RoomGetStateResponse):
            raise TransportError(f"reading the state of {room_id} failed")
        room = client.rooms.get(room_id) or MatrixRoom(room_id, self._own, room_id in client.encrypted_rooms)
        for raw in resp.events:
            if not isinstance(raw, dict):
                continue
            event = Event.parse_event(raw)
            if isinstance(event, RoomMemberEvent):
                room.handle_membership(event)
            elif isinstance(event, Event):
                room.handle_event(event)
        client.rooms.setdefault(room_id, room)
        room = client.rooms[room_id]
        if room.encrypted and client.olm is not None:
            client.encrypted_rooms.add(room_id)
            client.olm.update_tracked_users(room)
            # The member list is complete now; nio would otherwise replace it with the
            # joined members and skip the invited ones.
            room.members_synced = True
            if client.should_query_keys:
                await request(client.keys_query, "querying device keys")
        return room

    # ------------------------------------------------------------- undecryptable

    def undecrypted(self, room_id: RoomId, source: Mapping[str, Any], now: datetime) -> Undecrypted | None:
        """The waiting entry for an encrypted event nio could not decrypt (None if malformed)."""
        content = source.get("content")
        event_id, sender = source.get("event_id"), source.get("sender")
        session_id = content.get("session_id") if isinstance(content, Mapping) else None
        if not (isinstance(event_id, str) and isinstance(sender, str) and isinstance(session_id, str)):
            return None
        return Undecrypted(event_id, room_id, sender, session_id, now, source)

    async def request_key(self, item: Undecrypted) -> None:
        """Ask for the missing room key (once per session): the sender's devices and our own.

        nio's ``request_room_key`` only asks the bot's own other devices (and remembers
        the request, which nio needs to accept a forwarded key); a bot has none, so the
        same request also goes to every device of the sender, who holds the session.
        """
        client = self._client
        event = self._megolm(item)
        if event is None or client.olm is None or event.session_id in client.outgoing_key_requests:
            return
        assert client.device_id
        to_sender = event.as_key_request(item.sender, client.device_id)
        try:
            await request(lambda: client.to_device(to_sender), f"requesting a room key in {item.room_id}")
            await client.request_room_key(event)
            log.info("requested the room key for %s in %s", item.event_id, item.room_id)
        except (TransportError, LocalProtocolError, *TRANSIENT_EXCEPTIONS) as exc:
            log.warning("could not request the room key for %s: %s", item.event_id, exc)

    def try_decrypt(self, item: Undecrypted) -> Mapping[str, Any] | None:
        """The decrypted event's JSON when its room key has arrived meanwhile."""
        client = self._client
        event = self._megolm(item)
        if event is None or client.olm is None:
            return None
        try:
            decrypted = client.olm.decrypt_megolm_event(event, item.room_id)
        except EncryptionError:
            return None
        source = getattr(decrypted, "source", None)
        return source if isinstance(source, Mapping) and source.get("type") != "m.room.encrypted" else None

    @staticmethod
    def _megolm(item: Undecrypted) -> MegolmEvent | None:
        event = MegolmEvent.from_dict(dict(item.source))
        if not isinstance(event, MegolmEvent):
            return None
        event.room_id = item.room_id
        return event
