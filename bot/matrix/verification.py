"""In-room SAS verification: a member verifies the bot from its profile, as Element offers it.

Element verifies a *user* in their DM: the member's client sends
``m.key.verification.request`` as a room message, then ``.start`` (``m.sas.v1``), and
both sides exchange ``.ready``/``.accept``, ``.key``, ``.mac`` and ``.done`` as room
events that point at the request (``m.relates_to``, ``m.reference``). The request's
event id is the transaction id.

The bot has nobody to compare emoji, so it accepts every well-formed request of a
member in their DM and lets the member decide: it sends its ``.mac`` only after the
member's ``.mac`` arrived, i.e. after the member confirmed that the emoji match (the
spec lets each side send its MAC once it is satisfied; Element waits for both MACs and
both ``.done`` events in any order). The bot's MAC covers its device key and its master
cross-signing key, so the member's client marks the bot's whole identity verified and
signs it. Of the member's MAC the bot checks the key list and the member's device key
(known from the DM's device list); a key id it cannot check (their master key) is
skipped, as matrix-nio does for to-device SAS.

A flow lives 10 minutes (the spec's timeout) and at most ``MAX_FLOWS`` live at once;
a flow that went wrong is cancelled with the spec's code. Flows are kept in memory only:
a restart mid-verification leaves the member to try again, as the spec allows.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import vodozemac
from canonicaljson import encode_canonical_json

from bot.clock import Clock
from bot.ids import EventId, RoomId, UserId
from bot.matrix.events import EventBasics
from bot.transport import EventHandler, VerificationNotice

log = logging.getLogger(__name__)

PREFIX = "m.key.verification."
REQUEST = PREFIX + "request"
SAS_V1 = "m.sas.v1"
KEY_AGREEMENT = "curve25519-hkdf-sha256"
HASH = "sha256"
MAC_V2, MAC_OLD = "hkdf-hmac-sha256.v2", "hkdf-hmac-sha256"
SAS_METHODS = ("emoji", "decimal")
#: The spec's timeout for a request and for a flow.
TIMEOUT = timedelta(minutes=10)
#: A request from further in the future than this is ignored (the spec says 5 minutes).
FUTURE_SLACK = timedelta(minutes=5)
MAX_FLOWS = 16

#: Sends one room event: (room, type, content).
SendEvent = Callable[[RoomId, str, dict[str, Any]], Awaitable[object]]
#: The Ed25519 key of a member's device, or None when the bot does not know it.
DeviceKey = Callable[[UserId, str], str | None]


def is_verification(event_type: str, content: Mapping[str, Any]) -> bool:
    """Whether a room event is part of an in-room verification."""
    if event_type == "m.room.message":
        return content.get("msgtype") == REQUEST
    return event_type.startswith(PREFIX)


def mac_info(sender: str, sender_device: str, receiver: str, receiver_device: str, transaction: str) -> str:
    """The HKDF info of a MAC the sender computes (the spec's ``MATRIX_KEY_VERIFICATION_MAC`` string)."""
    return f"MATRIX_KEY_VERIFICATION_MAC{sender}{sender_device}{receiver}{receiver_device}{transaction}"


def commitment(public_key: str, start_content: Mapping[str, Any]) -> str:
    """What ``.accept`` commits to: SHA-256 of our key and the ``.start`` content, unpadded base64."""
    digest = hashlib.sha256(public_key.encode("ascii") + encode_canonical_json(dict(start_content))).digest()
    return base64.b64encode(digest).decode("ascii").rstrip("=")


@dataclass
class _Flow:
    room_id: RoomId
    user_id: UserId
    request_id: EventId
    started: datetime
    their_device: str
    state: str = "ready"  # ready -> accepted -> keyed -> done
    mac_method: str = MAC_V2
    sas: vodozemac.Sas = field(default_factory=vodozemac.Sas)
    established: vodozemac.EstablishedSas | None = None


class Cancelled(Exception):
    """A flow ends: ``code`` is the spec's cancel code."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class InRoomVerification:
    """The bot's side of in-room SAS verification, in members' DMs."""

    def __init__(
        self,
        own: UserId,
        own_device: Callable[[], str | None],
        own_device_key: Callable[[], str | None],
        master_key: Callable[[], str | None],
        their_device_key: DeviceKey,
        send: SendEvent,
        clock: Clock,
    ) -> None:
        self._own = own
        self._own_device = own_device
        self._own_device_key = own_device_key
        self._master_key = master_key
        self._their_device_key = their_device_key
        self._send = send
        self._clock = clock
        self._flows: dict[EventId, _Flow] = {}

    async def handle(self, room_id: RoomId, ev: EventBasics, notify: EventHandler) -> None:
        """One verification event of a member in their DM."""
        now = self._clock.now()
        self._drop_expired(now)
        event_type, sender, content = ev.type, ev.sender, ev.content
        if event_type == "m.room.message":
            if now - TIMEOUT <= ev.timestamp <= now + FUTURE_SLACK:  # the spec's window for a request
                await self._request(room_id, ev.event_id, sender, content, notify)
            return
        relates = content.get("m.relates_to")
        target = relates.get("event_id") if isinstance(relates, Mapping) else None
        flow = self._flows.get(EventId(target)) if isinstance(target, str) else None
        if flow is None or flow.user_id != sender or flow.room_id != room_id:
            return  # not ours, or over (a replay after a restart, a late event)
        step = event_type.removeprefix(PREFIX)
        if step in ("cancel", "done"):
            log.info("verification %s by %s: %s", flow.request_id, sender, step)
            self._flows.pop(flow.request_id, None)
            return
        try:
            if step == "start" and flow.state == "ready":
                await self._accept(flow, content)
            elif step == "key" and flow.state == "accepted":
                await self._share_key(flow, content)
            elif step == "mac" and flow.state == "keyed":
                await self._finish(flow, content, notify)
            elif step in ("start", "key", "mac", "accept"):
                raise Cancelled("m.unexpected_message", f"unexpected {event_type}")
        except Cancelled as cancel:
            await self._cancel(flow, cancel, notify)

    # ------------------------------------------------------------------ steps

    async def _request(
        self,
        room_id: RoomId,
        event_id: EventId,
        sender: UserId,
        content: Mapping[str, Any],
        notify: EventHandler,
    ) -> None:
        device, methods = content.get("from_device"), content.get("methods")
        if content.get("to") != self._own or not isinstance(device, str) or not isinstance(methods, list):
            return
        own_device = self._own_device()
        if SAS_V1 not in methods or own_device is None or event_id in self._flows:
            return
        for old in [f for f in self._flows.values() if f.user_id == sender]:
            del self._flows[old.request_id]  # a new request replaces the member's earlier one
        if len(self._flows) >= MAX_FLOWS:
            log.warning("verification request %s ignored: %d verifications under way", event_id, MAX_FLOWS)
            return
        flow = _Flow(room_id, sender, event_id, self._clock.now(), device)
        self._flows[event_id] = flow
        await self._send_step(flow, "ready", {"from_device": own_device, "methods": [SAS_V1]})
        log.info("verification %s: %s (device %s) asked; ready", event_id, sender, device)
        await notify(VerificationNotice(event_id, room_id, sender, "accepted"))

    async def _accept(self, flow: _Flow, start: Mapping[str, Any]) -> None:
        def offered(name: str) -> list[Any]:
            value = start.get(name)
            return value if isinstance(value, list) else []

        sas_methods = [m for m in SAS_METHODS if m in offered("short_authentication_string")]
        macs = [m for m in (MAC_V2, MAC_OLD) if m in offered("message_authentication_codes")]
        device = start.get("from_device")
        if (
            start.get("method") != SAS_V1
            or KEY_AGREEMENT not in offered("key_agreement_protocols")
            or HASH not in offered("hashes")
            or not macs
            or not sas_methods
        ):
            raise Cancelled("m.unknown_method", "the bot speaks m.sas.v1 with curve25519-hkdf-sha256")
        if isinstance(device, str):
            flow.their_device = device
        flow.mac_method = macs[0]
        accept = {
            "key_agreement_protocol": KEY_AGREEMENT,
            "hash": HASH,
            "message_authentication_code": flow.mac_method,
            "short_authentication_string": sas_methods,
            "commitment": commitment(flow.sas.public_key.to_base64(), start),
        }
        await self._send_step(flow, "accept", accept)
        flow.state = "accepted"

    async def _share_key(self, flow: _Flow, content: Mapping[str, Any]) -> None:
        key = content.get("key")
        try:
            their_key = vodozemac.Curve25519PublicKey.from_base64(key if isinstance(key, str) else "")
            flow.established = flow.sas.diffie_hellman(their_key)
        except (vodozemac.KeyException, vodozemac.SasException, ValueError) as exc:
            raise Cancelled("m.invalid_message", "the key is not a Curve25519 key") from exc
        await self._send_step(flow, "key", {"key": flow.sas.public_key.to_base64()})
        flow.state = "keyed"

    async def _finish(self, flow: _Flow, content: Mapping[str, Any], notify: EventHandler) -> None:
        """The member confirmed the emoji: check their MAC, then send ours and done."""
        own_device, own_key, master = self._own_device(), self._own_device_key(), self._master_key()
        assert own_device is not None and own_key is not None
        self._check_their_mac(flow, own_device, content)
        keys = {f"ed25519:{own_device}": own_key}
        if master is not None:
            keys[f"ed25519:{master}"] = master
        info = mac_info(self._own, own_device, flow.user_id, flow.their_device, flow.request_id)
        mac = {key_id: self._mac(flow, key, info + key_id) for key_id, key in keys.items()}
        key_ids = ",".join(sorted(keys))
        await self._send_step(flow, "mac", {"mac": mac, "keys": self._mac(flow, key_ids, info + "KEY_IDS")})
        await self._send_step(flow, "done", {})
        flow.state = "done"
        log.info(
            "verification %s: %s verified the bot (device %s)",
            flow.request_id,
            flow.user_id,
            flow.their_device,
        )
        await notify(VerificationNotice(flow.request_id, flow.room_id, flow.user_id, "verified"))

    def _check_their_mac(self, flow: _Flow, own_device: str, content: Mapping[str, Any]) -> None:
        macs, keys_mac = content.get("mac"), content.get("keys")
        if not isinstance(macs, Mapping) or not isinstance(keys_mac, str) or not macs:
            raise Cancelled("m.invalid_message", "the MAC event lacks mac or keys")
        info = mac_info(flow.user_id, flow.their_device, self._own, own_device, flow.request_id)
        if keys_mac != self._mac(flow, ",".join(sorted(macs)), info + "KEY_IDS"):
            raise Cancelled("m.key_mismatch", "the key list's MAC does not match")
        device_key_id = f"ed25519:{flow.their_device}"
        device_key = self._their_device_key(flow.user_id, flow.their_device)
        if device_key is None or device_key_id not in macs:
            raise Cancelled("m.key_mismatch", "the bot does not know the device that verifies")
        if macs[device_key_id] != self._mac(flow, device_key, info + device_key_id):
            raise Cancelled("m.key_mismatch", "the device key's MAC does not match")

    @staticmethod
    def _mac(flow: _Flow, text: str, info: str) -> str:
        assert flow.established is not None
        if flow.mac_method == MAC_OLD:  # older clients' method, with its known-wrong base64
            return str(flow.established.calculate_mac_invalid_base64(text, info))
        return str(flow.established.calculate_mac(text, info))

    # ------------------------------------------------------------------ plumbing

    async def _send_step(self, flow: _Flow, step: str, content: dict[str, Any]) -> None:
        content["m.relates_to"] = {"rel_type": "m.reference", "event_id": flow.request_id}
        await self._send(flow.room_id, PREFIX + step, content)

    async def _cancel(self, flow: _Flow, cancel: Cancelled, notify: EventHandler) -> None:
        self._flows.pop(flow.request_id, None)
        log.warning(
            "verification %s with %s cancelled: %s (%s)", flow.request_id, flow.user_id, cancel.code, cancel
        )
        await self._send_step(flow, "cancel", {"code": cancel.code, "reason": cancel.reason})
        await notify(VerificationNotice(flow.request_id, flow.room_id, flow.user_id, "cancelled"))

    def _drop_expired(self, now: datetime) -> None:
        for flow in [f for f in self._flows.values() if now - f.started > TIMEOUT]:
            log.info("verification %s with %s timed out", flow.request_id, flow.user_id)
            del self._flows[flow.request_id]
