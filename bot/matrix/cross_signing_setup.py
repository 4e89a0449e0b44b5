"""Putting the bot's cross-signing keys on the homeserver and signing its device with them.

At every start with encryption on (:meth:`CrossSigning.at_start`), one ``/keys/query``
for the bot's own account says what is missing:

- **no keys on the account, or not ours** (first start, a new database): the stored
  keys (generated once, see :mod:`bot.matrix.cross_signing`) are uploaded with
  ``/keys/device_signing/upload``. When the account had the bot's keys and someone
  replaced them in another client, the bot makes new keys and uploads those. The first upload needs no
  interactive auth (MSC3967); replacing keys does: the homeserver answers 401 with a
  session, and the bot answers with ``m.login.password`` when it has a password. With
  only an access token it logs one line naming ``kennisbrug cross-sign``, which asks the
  operator for the password once (:func:`cross_sign_command`), and it keeps running.
- **the device is not signed by our self-signing key** (first start, a new device after
  a login): its published keys are checked against the device's own Ed25519 key and
  signed, and the master key is signed by the device as Element does, with
  ``/keys/signatures/upload``. A new device is signed by the existing keys: the
  identity members may have verified stays.

Nothing here stops the bot: a failure is logged and tried again at the next start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from canonicaljson import encode_canonical_json
from nio import AsyncClient

from bot.config import Config
from bot.errors import TransportError
from bot.matrix.client import api_json
from bot.matrix.cross_signing import (
    MASTER,
    SELF_SIGNING,
    CrossSigningKeys,
    CrossSigningStore,
    is_signed_by,
    protection_key,
    public_key_of,
)
from bot.matrix.homeserver_calls import TRANSIENT_EXCEPTIONS
from bot.secrets import Secrets
from bot.storage import Database

log = logging.getLogger(__name__)

#: What the device's own key signs with: canonical JSON text in, unpadded base64 out.
DeviceSigner = Callable[[str], str]


class Outcome(Enum):
    SIGNED = "signed"  # something was uploaded; all is in place now
    IN_PLACE = "in place"  # nothing to do
    NEEDS_PASSWORD = "needs password"  # replacing the account's keys needs the password
    FAILED = "failed"


class CrossSigningFailed(TransportError):
    """The homeserver refused an upload (or could not be reached); the reason is in the text."""


class PasswordNeeded(Exception):
    """Replacing the account's cross-signing keys needs interactive auth with the password."""


@dataclass(frozen=True)
class ServerKeys:
    """What ``/keys/query`` says about the bot's own account."""

    master: dict[str, Any] | None
    self_signing: dict[str, Any] | None
    device: dict[str, Any] | None

    @classmethod
    def parse(cls, body: Mapping[str, Any], user_id: str, device_id: str) -> ServerKeys:
        def own(section: str) -> dict[str, Any] | None:
            value = (body.get(section) or {}).get(user_id)
            return value if isinstance(value, dict) else None

        devices = own("device_keys") or {}
        device = devices.get(device_id)
        return cls(own("master_keys"), own("self_signing_keys"), device if isinstance(device, dict) else None)

    def are_ours(self, keys: CrossSigningKeys) -> bool:
        return (
            self.master is not None
            and self.self_signing is not None
            and public_key_of(self.master) == keys.master_public_key()
            and public_key_of(self.self_signing) == keys.public_key(SELF_SIGNING)
        )


class CrossSigning:
    """The bot's cross-signing on one account and device; :attr:`keys` once loaded."""

    def __init__(self, client: AsyncClient, config: Config, db: Database, secrets: Secrets) -> None:
        self._client = client
        self._config = config
        self._db = db
        self._secrets = secrets
        self._user_id = config.matrix.user_id
        self.keys: CrossSigningKeys | None = None

    def master_public_key(self) -> str | None:
        """The bot's master public key once loaded at start (None before, or with encryption off)."""
        return self.keys.master_public_key() if self.keys is not None else None

    def sign_with_master(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """``obj`` signed by the bot's master key (for example a key backup's ``auth_data``)."""
        if self.keys is None:
            raise RuntimeError("the cross-signing keys are loaded at start, after login")
        return self.keys.sign_with_master(obj)

    async def _store(self) -> CrossSigningStore:
        key = await protection_key(self._config, self._db, self._secrets)
        return CrossSigningStore(self._db, self._user_id, key)

    async def at_start(self, device_key: str, sign_with_device: DeviceSigner) -> Outcome:
        """The bot's start: everything in place, with the configured password if one is needed."""
        try:
            return await self.ensure(self._config.matrix.password, device_key, sign_with_device)
        except PasswordNeeded:
            log.warning(
                "cross-signing: the account has cross-signing keys that are not this bot's and replacing "
                "them needs the bot's password; until then Element marks the bot's messages as from an "
                "unverified device. Run once: kennisbrug cross-sign --config %s (it asks for the password)",
                self._config.source,
            )
            return Outcome.NEEDS_PASSWORD
        except CrossSigningFailed as exc:
            reason: object = exc
        except TRANSIENT_EXCEPTIONS as exc:
            reason = type(exc).__name__
        log.warning("cross-signing the bot's device failed (%s); trying again at the next start", reason)
        return Outcome.FAILED

    async def ensure(
        self, password: str | None, device_key: str | None, sign_with_device: DeviceSigner | None
    ) -> Outcome:
        """Upload what the server lacks. ``device_key``: the device's Ed25519 key as the bot
        knows it (its Olm account); without it, the key recorded at the bot's last start.
        Raises :class:`PasswordNeeded` or :class:`CrossSigningFailed`."""
        client = self._client
        device_id = client.device_id
        if not device_id:
            raise CrossSigningFailed("the bot has no device id yet")
        store = await self._store()
        keys, new = await store.load_or_generate()
        self.keys = keys
        if new:
            log.info("cross-signing: generated the bot's keys (master key %s)", keys.master_public_key())
        server = await self._query(device_id)
        uploaded = False
        if not server.are_ours(keys):
            if await store.published() == keys.master_public_key():
                # Ours were on the account and were replaced (a reset in another client): the
                # identity members verified is gone anyway, and Synapse cannot take a
                # replaced key back (it keeps each key's row), so the bot makes new ones.
                keys = self.keys = await store.replace()
                log.warning(
                    "cross-signing: the bot's keys on the account were replaced elsewhere; "
                    "the bot makes new ones (master key %s)",
                    keys.master_public_key(),
                )
            await self._upload_signing_keys(keys, password)
            log.info("cross-signing: uploaded the bot's keys (master key %s)", keys.master_public_key())
            uploaded = True
            server = await self._query(device_id)
            if not server.are_ours(keys):
                raise CrossSigningFailed("the homeserver took the cross-signing keys but does not show them")
        await store.record_published(keys)
        expected = device_key or await self._recorded_key(store, device_id)
        device = self._checked_device(server, device_id, expected)
        await store.record_device(device_id, device["keys"][f"ed25519:{device_id}"])
        signatures = self._missing_signatures(keys, server, device, sign_with_device)
        if signatures:
            await self._upload_signatures(signatures)
            if device_id in signatures[self._user_id]:
                log.info("cross-signing: signed device %s with the bot's self-signing key", device_id)
            else:
                log.info("cross-signing: device %s signed the bot's master key", device_id)
            return Outcome.SIGNED
        return Outcome.SIGNED if uploaded else Outcome.IN_PLACE

    @staticmethod
    async def _recorded_key(store: CrossSigningStore, device_id: str) -> str | None:
        recorded = await store.signed_device()
        return recorded[1] if recorded is not None and recorded[0] == device_id else None

    # ------------------------------------------------------------------ the calls

    async def _query(self, device_id: str) -> ServerKeys:
        query: dict[str, Any] = {"device_keys": {self._user_id: []}}
        status, body = await api_json(self._client, "POST", ["keys", "query"], query)
        if status != 200:
            raise CrossSigningFailed(f"querying the bot's own keys: {_reason(status, body)}")
        return ServerKeys.parse(body, self._user_id, device_id)

    async def _upload_signing_keys(self, keys: CrossSigningKeys, password: str | None) -> None:
        body = keys.upload_body()
        parts = ["keys", "device_signing", "upload"]
        status, answer = await api_json(self._client, "POST", parts, body)
        if status == 200:
            return
        if status != 401 or "flows" not in answer:
            raise CrossSigningFailed(f"uploading the cross-signing keys: {_reason(status, answer)}")
        stages = [flow.get("stages") for flow in answer.get("flows", []) if isinstance(flow, dict)]
        if ["m.login.password"] not in stages:
            raise CrossSigningFailed(
                f"uploading the cross-signing keys: the homeserver asks for {stages}, not the password"
            )
        if not password:
            raise PasswordNeeded()
        auth = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": self._user_id},
            "password": password,
            "session": answer.get("session"),
        }
        status, answer = await api_json(self._client, "POST", parts, {**body, "auth": auth})
        if status == 401:
            raise CrossSigningFailed("uploading the cross-signing keys: the homeserver rejected the password")
        if status != 200:
            raise CrossSigningFailed(f"uploading the cross-signing keys: {_reason(status, answer)}")

    def _checked_device(self, server: ServerKeys, device_id: str, expected: str | None) -> dict[str, Any]:
        """The device's published keys, once they are shown to be the device's own."""
        device = server.device
        if device is None:
            raise CrossSigningFailed(f"device {device_id} has published no keys yet")
        key_id = f"ed25519:{device_id}"
        public = (device.get("keys") or {}).get(key_id)
        named = device.get("user_id") == self._user_id and device.get("device_id") == device_id
        if not isinstance(public, str) or not named:
            raise CrossSigningFailed(f"the published keys of device {device_id} are malformed")
        if expected is not None and public != expected:
            # Signing keys the homeserver made up would vouch for a device that is not the bot.
            raise CrossSigningFailed(f"the published Ed25519 key of device {device_id} is not the device's")
        if not is_signed_by(device, self._user_id, public, device_id):
            raise CrossSigningFailed(f"the published keys of device {device_id} are not self-signed")
        return device

    def _missing_signatures(
        self,
        keys: CrossSigningKeys,
        server: ServerKeys,
        device: dict[str, Any],
        sign_with_device: DeviceSigner | None,
    ) -> dict[str, Any]:
        """The body of ``/keys/signatures/upload`` for what is not signed yet (empty: nothing)."""
        device_id = device["device_id"]
        wanted: dict[str, Any] = {}
        if not is_signed_by(device, self._user_id, keys.public_key(SELF_SIGNING)):
            wanted[device_id] = keys.sign_device(device)
        master = server.master or keys.key_object(MASTER)
        device_key = device["keys"][f"ed25519:{device_id}"]
        if sign_with_device is not None and not is_signed_by(master, self._user_id, device_key, device_id):
            # As Element does: the device vouches for the master key too.
            signed = keys.key_object(MASTER)
            signature = sign_with_device(encode_canonical_json(signed).decode("utf-8"))
            signed["signatures"] = {self._user_id: {f"ed25519:{device_id}": signature}}
            wanted[keys.master_public_key()] = signed
        return {self._user_id: wanted} if wanted else {}

    async def _upload_signatures(self, body: dict[str, Any]) -> None:
        status, answer = await api_json(self._client, "POST", ["keys", "signatures", "upload"], body)
        failures = answer.get("failures") if status == 200 else None
        if status != 200 or failures:
            refused = sorted((failures or {}).get(self._user_id, {}))
            detail = _reason(status, answer) if status != 200 else f"refused: {refused}"
            raise CrossSigningFailed(f"uploading the device signature: {detail}")


def _reason(status: int, body: Mapping[str, Any]) -> str:
    return f"{body.get('errcode', 'no errcode')} (HTTP {status})"


async def cross_sign_command(config: Config, password: str) -> Outcome:
    """``kennisbrug cross-sign``: upload the bot's keys with the operator's password, and sign
    the bot's device, while the bot may be running.

    It logs in with the bot's own token (stored or configured; never a new login, which
    would make a new device) and signs the device whose Ed25519 key the bot recorded at
    its last start. The device's signature of the master key follows at the bot's next
    start (that needs the device's private key, in the crypto store the bot holds open).
    """
    from bot.matrix.client import authenticate, build_client

    db = Database(config.database.url)
    client = build_client(config)
    try:
        await authenticate(client, config, db)
        return await CrossSigning(client, config, db, Secrets.from_environment()).ensure(password, None, None)
    finally:
        await client.close()
        await db.dispose()
