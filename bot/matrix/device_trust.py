"""Trust on first use for members' devices (``matrix.trust: tofu``, the default).

There is no way to verify a device with the bot, so the bot trusts what it finds first
and watches what changes:

- **First meeting.** The devices a member has when the bot first learns their keys are
  recorded (device id and ed25519 key, per member, in ``core_state``) and trusted.
- **A new device** (a device id the bot has not seen for that member) still gets room
  keys, so a member's new phone just works; the core is told (:class:`NewDevice`) and
  DMs the member at once, once per device: a password thief's device does not go
  unnoticed.
- **A changed key** (a known device id with another ed25519 key) is what trust on first
  use exists to catch: that device is blacklisted (no room key reaches it) and the
  member told, once per key.

``trust: all`` is the explicit opt-out: every device gets keys, nothing is recorded (the
records of an earlier ``tofu`` are dropped at start) and nobody is told. At every start
the blacklist in nio's store is made to match the policy, so what an older policy left
there (``verified`` blacklisted every device) never outlives a switch.

The adapter only reports; :class:`bot.transport.NewDevice` is turned into a message by
the core. Notices are dispatched before the record is written, and the transaction id
of the message derives from member, device and key: a crash in between repeats the
dispatch after the restart, and the outbox sends it once.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from nio import AsyncClient, KeysQueryResponse
from sqlalchemy import delete, select

from bot.clock import Clock
from bot.ids import EventId, UserId
from bot.matrix import state
from bot.storage.database import Database
from bot.storage.models import KeyValue
from bot.storage.results import rowcount
from bot.transport import EventHandler, NewDevice

log = logging.getLogger(__name__)

#: ``core_state`` keys of the records: this prefix and a digest of the member's id (a
#: key is at most 100 characters, a user id up to 255); the id itself is in the value.
RECORD_PREFIX = "matrix.devices."


@dataclass(frozen=True)
class SeenDevice:
    """A device of a member as the homeserver publishes it now (signature checked)."""

    device_id: str
    ed25519: str
    display_name: str = ""


@dataclass(frozen=True)
class KnownDevice:
    """A device trusted on first use; ``rejected`` is the last other key seen for its id."""

    device_id: str
    ed25519: str
    display_name: str
    first_seen: datetime
    rejected: str | None = None


@dataclass(frozen=True)
class Review:
    """What one look at a member's devices decided."""

    known: dict[str, KnownDevice]
    added: list[SeenDevice] = field(default_factory=list)
    changed: list[SeenDevice] = field(default_factory=list)
    #: Device ids whose published key is not the trusted one: no room key for them.
    blacklist: set[str] = field(default_factory=set)


def review(known: Mapping[str, KnownDevice] | None, seen: Sequence[SeenDevice], now: datetime) -> Review:
    """The decision for one member: ``known`` is None the first time the bot meets them."""
    if known is None:
        first = {d.device_id: KnownDevice(d.device_id, d.ed25519, d.display_name, now) for d in seen}
        return Review(known=first)
    result = Review(known=dict(known))
    for device in seen:
        trusted = known.get(device.device_id)
        if trusted is None:
            result.added.append(device)
            result.known[device.device_id] = KnownDevice(
                device.device_id, device.ed25519, device.display_name, now
            )
        elif trusted.ed25519 != device.ed25519:
            result.blacklist.add(device.device_id)
            if trusted.rejected != device.ed25519:  # told once per foreign key
                result.changed.append(device)
                result.known[device.device_id] = replace(trusted, rejected=device.ed25519)
    return result


def notice_id(user_id: str, device: SeenDevice) -> str:
    """A stable id for one notice (member, device, key): the basis of its transaction id."""
    digest = hashlib.sha256(f"{user_id}|{device.device_id}|{device.ed25519}".encode()).hexdigest()
    return f"device-{digest[:32]}"


def record_key(user_id: str) -> str:
    return RECORD_PREFIX + hashlib.sha256(user_id.encode()).hexdigest()[:40]


class DeviceTrust:
    """The records, the decisions after every key query, and the blacklist in nio's store."""

    def __init__(self, client: AsyncClient, db: Database, clock: Clock, policy: str, own: UserId) -> None:
        self._client = client
        self._db = db
        self._clock = clock
        self.enabled = policy == "tofu"
        self._own = own
        self._known: dict[str, dict[str, KnownDevice]] = {}
        self._dirty: set[str] = set()
        self._notices: list[NewDevice] = []
        self._handler: EventHandler | None = None
        self._not_meeting: set[str] = set()

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """After the store is loaded: records in, blacklist matched to the policy, and
        every device nio already knows reviewed (a device stored while the bot was
        stopping is told now; a member met under ``all`` is met now)."""
        if not self.enabled:
            await self._drop_all_records()
        else:
            await self._load()
        olm = self._client.olm
        if olm is None:
            return
        if self.enabled:
            for user_id in list(olm.device_store.users):
                devices = [
                    SeenDevice(d.id, d.ed25519, d.display_name or "")
                    for d in olm.device_store.active_user_devices(user_id)
                ]
                if devices:
                    self._decide(user_id, devices)
        self._match_blacklist()
        await self.flush()

    def report_to(self, handler: EventHandler) -> None:
        self._handler = handler

    # ------------------------------------------------------------------ decisions

    def observe(self, response: KeysQueryResponse) -> None:
        """Called by the client right after nio handled a key query (before any room key
        can be shared with what it returned)."""
        olm = self._client.olm
        if not self.enabled or olm is None:
            return
        for user_id, payloads in response.device_keys.items():
            if user_id == self._own or user_id in self._not_meeting or not isinstance(payloads, Mapping):
                continue
            self._decide(user_id, [d for d in (self._signed(user_id, p) for p in payloads.values()) if d])

    def _signed(self, user_id: str, payload: Any) -> SeenDevice | None:
        """The device a key-query payload describes, if its signature holds."""
        olm = self._client.olm
        if olm is None or not isinstance(payload, Mapping):
            return None
        device_id = payload.get("device_id")
        keys = payload.get("keys")
        key = keys.get(f"ed25519:{device_id}") if isinstance(keys, Mapping) else None
        if not isinstance(device_id, str) or not isinstance(key, str) or payload.get("user_id") != user_id:
            return None
        if not olm.verify_json(copy.deepcopy(dict(payload)), key, user_id, device_id):
            return None
        unsigned = payload.get("unsigned")
        name = unsigned.get("device_display_name") if isinstance(unsigned, Mapping) else None
        return SeenDevice(device_id, key, name if isinstance(name, str) else "")

    def _decide(self, user_id: str, seen: Sequence[SeenDevice]) -> None:
        before = self._known.get(user_id)
        result = review(before, seen, self._clock.now())
        if result.known != before:
            self._known[user_id] = result.known
            self._dirty.add(user_id)
        for device in result.added:
            log.warning("a new device of a member appeared; telling them")
            self._notices.append(self._notice(user_id, device, key_changed=False))
        for device in result.changed:
            log.warning("a known device of a member has another key now; blacklisted, telling them")
            self._notices.append(self._notice(user_id, device, key_changed=True))
        if result.blacklist:
            self._blacklist(user_id, result.blacklist)

    def _notice(self, user_id: str, device: SeenDevice, *, key_changed: bool) -> NewDevice:
        return NewDevice(
            event_id=EventId(notice_id(user_id, device)),
            user_id=UserId(user_id),
            device_id=device.device_id,
            device_name=device.display_name,
            key_changed=key_changed,
            timestamp=self._clock.now(),
        )

    def _blacklist(self, user_id: str, device_ids: set[str]) -> None:
        olm = self._client.olm
        if olm is None:
            return
        for device in olm.device_store.active_user_devices(user_id):
            if device.id in device_ids and not olm.is_device_blacklisted(device):
                olm.blacklist_device(device)

    def _match_blacklist(self) -> None:
        """Blacklisted exactly the devices the policy rejects; nothing an older one left."""
        olm = self._client.olm
        if olm is None:
            return
        cleared = 0
        for user_id in list(olm.device_store.users):
            known = self._known.get(user_id, {})
            for device in olm.device_store.active_user_devices(user_id):
                trusted = known.get(device.id)
                rejected = trusted is not None and (
                    trusted.ed25519 != device.ed25519 or trusted.rejected is not None
                )
                if rejected and self.enabled:
                    if not olm.is_device_blacklisted(device):
                        olm.blacklist_device(device)
                elif olm.is_device_blacklisted(device):
                    olm.unblacklist_device(device)
                    cleared += 1
        if cleared:
            log.info("cleared %d blacklisted device(s) the trust policy does not reject", cleared)

    # ------------------------------------------------------------------ durability

    async def flush(self) -> None:
        """Hand the notices to the core, then write the changed records (after a sync)."""
        if self._handler is None:
            return  # before the sync loop runs: kept until it does
        # Taken together: what a key query decides while the notices are being told
        # waits for the next flush, so no record is written before its notice.
        notices, self._notices = self._notices, []
        dirty, self._dirty = self._dirty, set()
        encoded = {u: _encode(u, self._known[u]) for u in dirty if u in self._known}
        for notice in notices:
            try:
                await self._handler(notice)
            except Exception:
                log.exception("telling a member about a new device failed")
        # A member forgotten meanwhile stays forgotten.
        values = {record_key(u): value for u, value in encoded.items() if u in self._known}
        if not values:
            return  # the usual batch: nothing to write
        try:
            await state.save(self._db, values)
        except Exception:
            self._dirty |= dirty  # written with the next batch
            raise

    async def _load(self) -> None:
        async with self._db.session() as session:
            rows = (
                await session.scalars(select(KeyValue).where(KeyValue.key.startswith(RECORD_PREFIX)))
            ).all()
        for row in rows:
            decoded = _decode(row.value)
            if decoded is None:
                log.warning("an unreadable device record was skipped")
                continue
            self._known[decoded[0]] = decoded[1]
        if self._known:
            log.info("trust on first use: devices of %d members on record", len(self._known))

    async def _drop_all_records(self) -> None:
        async with self._db.transaction() as session:
            result = await session.execute(delete(KeyValue).where(KeyValue.key.startswith(RECORD_PREFIX)))
        if rowcount(result):
            log.info("trust: all keeps no device records; dropped those of an earlier tofu")

    # ------------------------------------------------------------------ personal data

    def export(self, user_id: str) -> list[dict[str, Any]]:
        return [
            {
                "device_id": d.device_id,
                "display_name": d.display_name,
                "ed25519": d.ed25519,
                "first_seen": d.first_seen.isoformat(),
                **({"rejected_key": d.rejected} if d.rejected else {}),
            }
            for d in self._known.get(user_id, {}).values()
        ]

    async def forget(self, user_id: str) -> int:
        removed = len(self._known.pop(user_id, {}))
        self._dirty.discard(user_id)
        self._notices = [n for n in self._notices if n.user_id != user_id]
        await state.remove(self._db, record_key(user_id))
        return removed

    @contextlib.contextmanager
    def not_meeting(self, user_id: str) -> Iterator[None]:
        """Keys fetched while this holds do not count as meeting the member (the keys a
        forgotten member's confirmation needs are no reason to record them again)."""
        self._not_meeting.add(user_id)
        try:
            yield
        finally:
            self._not_meeting.discard(user_id)


def _encode(user_id: str, devices: Mapping[str, KnownDevice]) -> str:
    rows = {
        d.device_id: {
            "ed25519": d.ed25519,
            "name": d.display_name,
            "first_seen": state.encode_time(d.first_seen),
            **({"rejected": d.rejected} if d.rejected else {}),
        }
        for d in devices.values()
    }
    return json.dumps({"user_id": user_id, "devices": rows}, separators=(",", ":"))


def _decode(value: str) -> tuple[str, dict[str, KnownDevice]] | None:
    try:
        data = json.loads(value)
    except ValueError:
        return None
    user_id = data.get("user_id") if isinstance(data, dict) else None
    rows = data.get("devices") if isinstance(data, dict) else None
    if not isinstance(user_id, str) or not isinstance(rows, dict):
        return None
    devices = {}
    for device_id, row in rows.items():
        first_seen = state.decode_time(row.get("first_seen")) if isinstance(row, dict) else None
        if first_seen is None or not isinstance(row.get("ed25519"), str):
            continue
        rejected = row.get("rejected")
        devices[device_id] = KnownDevice(
            device_id,
            row["ed25519"],
            str(row.get("name") or ""),
            first_seen,
            rejected if isinstance(rejected, str) else None,
        )
    return user_id, devices
