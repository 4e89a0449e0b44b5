"""Server-side key backup of the room keys, so a bot on a new device reads its old DMs.

The Client-Server API's "Server-side key backups", algorithm
``m.megolm_backup.v1.curve25519-aes-sha2``: every room key (Megolm inbound session) in
the crypto store is encrypted to the backup's Curve25519 public key and put on the
homeserver (``PUT /room_keys/keys``), in the format of :mod:`bot.matrix.key_backup_data`.

- **The key.** The bot needs only the public key to upload. The private key goes into
  the account's secret storage (:mod:`bot.matrix.secret_storage`, as Element keeps it),
  whose key is written once, as a recovery key (:mod:`bot.matrix.recovery_key`), to
  ``matrix.recovery_key_file`` (0600); the command line prints it at that first start.
  (An account with someone else's secret storage gets the backup key itself as its
  recovery key.)
  The bot keeps the backup's version and public key in ``core_state``; with a new
  database it derives the public key from that file again, so it never makes a second
  recovery key while the first one is still there.
- **Uploading.** After every sync (:meth:`Crypto.housekeeping`) the sessions not yet
  in ``core_backed_up_room_keys`` go up, at most :data:`MAX_PER_ROUND` in batches of
  :data:`BATCH`. A failure is retried after the next sync; a restart loses nothing
  because the table, not memory, says what is backed up.
- **Restoring.** With a recovery key (``kennisbrug restore-keys``, or
  ``matrix.recovery_key`` at a start with an empty crypto store) every session of the
  current backup version is downloaded, decrypted and imported into the crypto store.
- **Erasure.** :meth:`forget` deletes a forgotten member's DM from the backup (and the
  sessions their devices sent in other rooms).

The backup's ``auth_data`` is signed with the device key; a cross-signing master key
signature can be added beside it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vodozemac
from nio import AsyncClient
from sqlalchemy import delete, select

from bot.clock import Clock
from bot.config import MatrixConfig
from bot.errors import ConfigError, TransportError
from bot.matrix.client import api_json, api_json_checked
from bot.matrix.homeserver_calls import TRANSIENT_EXCEPTIONS
from bot.matrix.key_backup_data import (
    ALGORITHM,
    decrypt_session,
    encrypt_session,
    import_session,
    public_key_of,
)
from bot.matrix.recovery_key import (
    RecoveryKeyError,
    decode_recovery_key,
    read_recovery_key_file,
    write_recovery_key_file,
)
from bot.matrix.secret_storage import backup_key_from, has_default_key, store_backup_key
from bot.storage import Database, keyvalue
from bot.storage.database import dialect_insert
from bot.storage.models import BackedUpRoomKey

log = logging.getLogger(__name__)

#: ``core_state`` key: ``{"version": ..., "public_key": ...}`` of the backup in use.
STATE_KEY = "matrix.key_backup"
#: Sessions per upload request, and at most per sync (a large store goes up over a few
#: syncs). Encrypting one takes about 1.2 ms on a small machine (X25519 and HKDF each):
#: a round of 200 costs about a quarter second, spread over turns of :data:`YIELD_EVERY`.
BATCH = 100
MAX_PER_ROUND = 200
YIELD_EVERY = 10
#: The homeserver could not be reached or refused: tried again later, never fatal.
_UNREACHABLE: tuple[type[BaseException], ...] = (TransportError, *TRANSIENT_EXCEPTIONS)


class KeyBackupError(ConfigError):
    """The recovery key does not fit the homeserver's backup (or there is none)."""

    def __init__(self, problem: str) -> None:
        super().__init__([problem])


@dataclass
class RestoreReport:
    version: str
    imported: int = 0
    already_known: int = 0
    unreadable: int = 0


# ------------------------------------------------------------------ the service


class KeyBackup:
    """The bot's key backup: choose or create the version, upload, restore, forget."""

    def __init__(self, client: AsyncClient, db: Database, clock: Clock, config: MatrixConfig) -> None:
        self._client = client
        self._db = db
        self._clock = clock
        self._config = config
        self._version: str | None = None
        self._public_key: str | None = None
        self._done: set[str] = set()
        #: Choosing the version failed (an outage) or the server's changed: again after a sync.
        self._stale = False
        # An upload and an erasure never overlap: a batch read before the erasure
        # would put the forgotten member's keys back.
        self._lock = asyncio.Lock()
        #: Where the recovery key was written at this start (None: not this time).
        self.recovery_key_written: Path | None = None

    @property
    def version(self) -> str | None:
        return self._version

    @property
    def enabled(self) -> bool:
        return self._config.key_backup and self._client.olm is not None

    async def start(self, restore: bool = False) -> RestoreReport | None:
        """At start: restore from ``matrix.recovery_key`` if asked (or the store is new),
        then pick the backup version to upload to, creating it (and the recovery key)
        the first time.

        ``restore`` restores whatever the store holds (the ``restore-keys`` command).
        Raises :class:`KeyBackupError` when the given recovery key does not fit.
        """
        if not self.enabled:
            return None
        given = self._given_key()
        report = None
        olm = self._client.olm
        assert olm is not None
        store_is_new = next(iter(olm.inbound_group_store), None) is None
        if given is not None and (restore or store_is_new):
            report = await self.restore(given)
        try:
            await self._choose_version(given)
        except _UNREACHABLE as exc:
            self._stale = True
            log.warning("key backup: could not reach the homeserver (%s); trying again after a sync", exc)
        return report

    def _given_key(self) -> bytes | None:
        text = self._config.recovery_key
        if not text:
            return None
        try:
            return decode_recovery_key(text)
        except RecoveryKeyError as exc:
            raise KeyBackupError(f"matrix.recovery_key: {exc}") from exc

    def _key_from_file(self) -> bytes | None:
        path = self._config.recovery_key_file
        if not path.exists():
            return None
        try:
            return read_recovery_key_file(path)
        except (OSError, UnicodeDecodeError, RecoveryKeyError) as exc:
            log.error("key backup: %s is not a readable recovery key (%s)", path, exc)
            return None

    async def _choose_version(self, given: bytes | None = None) -> None:
        """The version to upload to: ours on the server, else a new one with our key."""
        stored = await self._stored()
        public = stored.get("public_key")
        if public is None:
            known = given or self._key_from_file()
            public = public_key_of(await self._backup_key_of(known)) if known is not None else None
        server = await self._current_version()
        if server is not None and server.get("algorithm") == ALGORITHM and public is not None:
            auth = server.get("auth_data")
            if isinstance(auth, Mapping) and auth.get("public_key") == public:
                await self._use(str(server["version"]), public)
                return
        if public is None:
            if self._config.recovery_key_file.exists():
                log.error(
                    "key backup off: %s exists but holds no recovery key; move it away to make a new one",
                    self._config.recovery_key_file,
                )
                self._stale = False
                return
            public = await self._new_recovery_key()
        elif server is not None:
            log.warning(
                "key backup: the homeserver's backup %s is not ours; making a new one", server.get("version")
            )
        version = await self._create_version(public)
        log.info("key backup: created backup version %s", version)
        await self._use(version, public)

    async def _new_recovery_key(self) -> str:
        """Make the backup key (and secret storage for it), write the recovery key once;
        returns the backup's public key."""
        backup_key = vodozemac.Curve25519SecretKey().to_bytes()
        path = self._config.recovery_key_file
        if await has_default_key(self._client):
            # Someone's secret storage: not the bot's to replace; the recovery key is
            # the backup key itself.
            write_recovery_key_file(path, backup_key)
        else:
            storage_key = os.urandom(32)
            # The file first: a key the server knows but nobody kept would be worthless
            # (and a storage key that opens nothing is taken as the backup key).
            write_recovery_key_file(path, storage_key)
            await store_backup_key(self._client, storage_key, backup_key)
        self.recovery_key_written = path
        log.warning("key backup: a new recovery key was written to %s; keep a copy in a safe place", path)
        return public_key_of(backup_key)

    async def _backup_key_of(self, recovery_key: bytes) -> bytes:
        """The backup key a recovery key stands for: kept in the secret storage it opens,
        or (no such storage) the recovery key itself."""
        return await backup_key_from(self._client, recovery_key) or recovery_key

    async def _use(self, version: str, public: str) -> None:
        if version != (await self._stored()).get("version"):
            # Another version holds none of our sessions yet: everything goes up again.
            async with self._db.transaction() as session:
                await session.execute(delete(BackedUpRoomKey).where(BackedUpRoomKey.version != version))
            await keyvalue.save(self._db, {STATE_KEY: json.dumps({"version": version, "public_key": public})})
        self._version, self._public_key, self._stale = version, public, False
        async with self._db.session() as session:
            rows = await session.execute(
                select(BackedUpRoomKey.session_id).where(BackedUpRoomKey.version == version)
            )
            self._done = set(rows.scalars())

    async def _stored(self) -> dict[str, str]:
        raw = (await keyvalue.load(self._db, STATE_KEY)).get(STATE_KEY)
        data = json.loads(raw) if raw else {}
        return data if isinstance(data, dict) else {}

    async def _current_version(self) -> dict[str, Any] | None:
        payload = await api_json_checked(
            self._client,
            "GET",
            ["room_keys", "version"],
            "reading the key backup version",
            ok_statuses=(200, 404),
        )
        return payload if "version" in payload else None

    async def _create_version(self, public: str) -> str:
        olm = self._client.olm
        assert olm is not None
        auth_data: dict[str, Any] = {"public_key": public}
        signature = olm.sign_json(auth_data)
        auth_data["signatures"] = {self._client.user_id: {f"ed25519:{self._client.device_id}": signature}}
        payload = await api_json_checked(
            self._client,
            "POST",
            ["room_keys", "version"],
            "creating a key backup version",
            {"algorithm": ALGORITHM, "auth_data": auth_data},
        )
        return str(payload["version"])

    # ------------------------------------------------------------- uploading

    async def upload_new(self) -> int:
        """Upload the sessions not backed up yet (at most :data:`MAX_PER_ROUND`); never raises."""
        if not self.enabled:
            return 0
        try:
            async with self._lock:
                if self._stale:
                    await self._choose_version()
                return await self._upload_new()
        except _UNREACHABLE as exc:
            log.warning("key backup: upload failed (%s); retrying after the next sync", exc)
            return 0

    async def _upload_new(self) -> int:
        olm, version, public = self._client.olm, self._version, self._public_key
        if olm is None or version is None or public is None:
            return 0
        waiting = [s for s in olm.inbound_group_store if s.id not in self._done][:MAX_PER_ROUND]
        uploaded = 0
        for start in range(0, len(waiting), BATCH):
            chunk = waiting[start : start + BATCH]
            rooms: dict[str, dict[str, dict[str, Any]]] = {}
            for index, session in enumerate(chunk, 1):
                rooms.setdefault(session.room_id, {"sessions": {}})["sessions"][session.id] = encrypt_session(
                    public, session
                )
                if index % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # replies and sends get their turn meanwhile
            status, payload = await api_json(
                self._client, "PUT", ["room_keys", "keys"], {"rooms": rooms}, {"version": version}
            )
            if status != 200:
                if payload.get("errcode") in ("M_WRONG_ROOM_KEYS_VERSION", "M_NOT_FOUND"):
                    self._stale = True  # someone replaced or deleted the backup
                log.warning("key backup: upload refused: %s (HTTP %d)", payload.get("errcode"), status)
                break
            await self._record([(s.room_id, s.id) for s in chunk], version)
            uploaded += len(chunk)
        if uploaded:
            log.info("key backup: uploaded %d room key(s) to version %s", uploaded, version)
        return uploaded

    async def _record(self, sessions: Collection[tuple[str, str]], version: str) -> None:
        if not sessions:
            return
        now = self._clock.now()
        rows = [
            {"session_id": sid, "room_id": room, "version": version, "backed_up_at": now}
            for room, sid in sessions
        ]
        async with self._db.transaction() as db_session:
            dialect = db_session.bind.dialect.name if db_session.bind is not None else "sqlite"
            statement = dialect_insert(dialect)(BackedUpRoomKey).values(rows)
            await db_session.execute(
                statement.on_conflict_do_update(
                    index_elements=["session_id"],
                    set_={
                        "version": statement.excluded.version,
                        "backed_up_at": statement.excluded.backed_up_at,
                    },
                )
            )
        self._done.update(sid for _, sid in sessions)

    # ------------------------------------------------------------- restoring

    async def restore(self, recovery_key: bytes) -> RestoreReport:
        """Import every session of the current backup version into the crypto store."""
        olm = self._client.olm
        assert olm is not None
        private_key = await self._backup_key_of(recovery_key)
        public = public_key_of(private_key)
        server = await self._current_version()
        if server is None:
            raise KeyBackupError("restore: the homeserver has no key backup for this account")
        version = str(server["version"])
        auth = server.get("auth_data")
        if (
            server.get("algorithm") != ALGORITHM
            or not isinstance(auth, Mapping)
            or auth.get("public_key") != public
        ):
            raise KeyBackupError(
                f"restore: the recovery key does not fit the homeserver's key backup (version {version})"
            )
        payload = await api_json_checked(
            self._client,
            "GET",
            ["room_keys", "keys"],
            "downloading the key backup",
            query={"version": version},
        )
        report = RestoreReport(version)
        restored: list[tuple[str, str]] = []
        rooms = payload.get("rooms")
        for room_id, room in (rooms if isinstance(rooms, Mapping) else {}).items():
            sessions = room.get("sessions") if isinstance(room, Mapping) else None
            for session_id, item in (sessions if isinstance(sessions, Mapping) else {}).items():
                try:
                    data = decrypt_session(private_key, item["session_data"])
                    session = import_session(room_id, data)
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning("restore: skipped a session of %s (%s)", room_id, exc)
                    report.unreadable += 1
                    continue
                if session.id != session_id:
                    report.unreadable += 1
                    continue
                restored.append((room_id, session_id))
                if olm.inbound_group_store.get(room_id, session.sender_key, session.id) is not None:
                    report.already_known += 1
                    continue
                olm.inbound_group_store.add(session)
                olm.save_inbound_group_session(session)
                report.imported += 1
        await self._use(version, public)
        await self._record(restored, version)
        log.info(
            "restore: %d room key(s) imported from backup version %s (%d known, %d unreadable)",
            report.imported,
            version,
            report.already_known,
            report.unreadable,
        )
        return report

    # ------------------------------------------------------------- erasure

    async def forget(self, rooms: Collection[str], sessions: Collection[tuple[str, str]]) -> int:
        """Delete whole rooms (a member's DM) and single sessions from the backup.

        The rows of deleted sessions go; those of sessions the crypto store still holds
        (the bot's own in the DM) stay, so they are not uploaded again. Failures are
        logged: the rest of the erasure goes on.
        """
        async with self._lock:
            return await self._forget(rooms, sessions)

    async def _forget(self, rooms: Collection[str], sessions: Collection[tuple[str, str]]) -> int:
        removed = 0
        version = self._version
        if self.enabled and version is not None:
            targets = [[room] for room in sorted(rooms)]
            targets += [[room, sid] for room, sid in sorted(sessions) if room not in rooms]
            for parts in targets:
                try:
                    await api_json_checked(
                        self._client,
                        "DELETE",
                        ["room_keys", "keys", *parts],
                        "deleting from the key backup",
                        ok_statuses=(200, 404),
                        query={"version": version},
                    )
                    removed += 1
                except _UNREACHABLE as exc:
                    log.warning("key backup: could not delete a forgotten member's keys (%s)", exc)
        gone = {sid for _, sid in sessions}
        if gone:
            async with self._db.transaction() as session:
                await session.execute(delete(BackedUpRoomKey).where(BackedUpRoomKey.session_id.in_(gone)))
            self._done -= gone
        return removed
