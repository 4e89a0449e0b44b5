"""The bot's cross-signing keys: master, self-signing and user-signing, and where they are kept.

Element shows a red shield on messages from a device its owner has not signed, and
clients that exclude insecure devices withhold room keys from it. A bot has nobody to
verify its device interactively, so it signs its device itself: the self-signing key
signs the device, the master key signs the self-signing and user-signing keys. Putting
them on the homeserver is :mod:`bot.matrix.cross_signing_setup`; this module holds the
keys and the JSON they sign, with matrix-org's ``signedjson`` (canonical JSON and
Ed25519 by PyNaCl; vodozemac's Python binding verifies Ed25519 but cannot sign with a
key of ours, and matrix-nio has no cross-signing).

The private keys (32-byte seeds) are kept in ``core_state`` in a PyNaCl secret box
whose key is derived from the crypto store's pickle key (``matrix.store_key``, or the
one generated and kept next to it: :mod:`bot.secrets`). The database backup therefore
holds them, and whoever can open the crypto store can open them; nothing logs them.
A restart loads the same keys, so the bot keeps one identity.

Other parts sign with the master key through :meth:`CrossSigningKeys.sign_with_master`
(for example a server-side key backup) and read :meth:`CrossSigningKeys.master_public_key`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import secrets as _random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.secret
from signedjson.key import (
    decode_signing_key_base64,
    decode_verify_key_bytes,
    encode_signing_key_base64,
    encode_verify_key_base64,
    generate_signing_key,
    get_verify_key,
)
from signedjson.sign import SignatureVerifyException, sign_json, verify_signed_json
from signedjson.types import SigningKey

from bot.config import Config
from bot.errors import ConfigError
from bot.secrets import STORE_KEY, Secrets
from bot.storage import Database, keyvalue

ED25519 = "ed25519"
MASTER, SELF_SIGNING, USER_SIGNING = "master", "self_signing", "user_signing"
USAGES = (MASTER, SELF_SIGNING, USER_SIGNING)

#: ``core_state``: the sealed private keys (and, readable, the master public key).
KEYS_STATE = "matrix.cross_signing.keys"
#: ``core_state``: the device the bot signed last and its Ed25519 key (public facts).
DEVICE_STATE = "matrix.cross_signing.device"
#: ``core_state``: the master public key the homeserver accepted last.
PUBLISHED_STATE = "matrix.cross_signing.published"
#: Separates this use of the pickle key from every other (BLAKE2b's "personalisation").
_BOX_PERSON = b"kb-xsign-box-v1"


class CrossSigningKeyError(ConfigError):
    """The stored keys cannot be opened: the store key is not the one they were sealed with."""

    def __init__(self, problem: str) -> None:
        super().__init__([problem])


def _b64(data: bytes) -> str:
    """Unpadded standard base64, as Matrix writes keys and signatures."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _key_id(public: str) -> str:
    return f"{ED25519}:{public}"


def _named(key: SigningKey) -> SigningKey:
    """The key with its public key as its version: a cross-signing key's id is ``ed25519:<public>``."""
    public = encode_verify_key_base64(get_verify_key(key))
    return decode_signing_key_base64(ED25519, public, encode_signing_key_base64(key))


def public_key_of(key_object: Mapping[str, Any]) -> str | None:
    """The one Ed25519 public key of a cross-signing key object (``keys``), or None."""
    keys = key_object.get("keys")
    if not isinstance(keys, Mapping) or len(keys) != 1:
        return None
    [(key_id, public)] = keys.items()
    return public if isinstance(public, str) and key_id == _key_id(public) else None


def is_signed_by(obj: Mapping[str, Any], user_id: str, public: str, key_name: str | None = None) -> bool:
    """Whether ``obj`` carries a valid signature of ``user_id``'s Ed25519 key ``public``.

    The signature is looked up as ``ed25519:<key_name>``: the public key itself for a
    cross-signing key, the device id for a device's key. ``signatures`` and ``unsigned``
    are left out of what was signed, as the spec says.
    """
    try:
        raw = base64.b64decode(public + "=" * (-len(public) % 4))
        verify_key = decode_verify_key_bytes(_key_id(key_name or public), raw)
        verify_signed_json(dict(obj), user_id, verify_key)
    except (SignatureVerifyException, binascii.Error, ValueError, TypeError, KeyError):
        return False
    return True


@dataclass(frozen=True)
class CrossSigningKeys:
    """One account's three cross-signing keys (private), and the objects they sign."""

    user_id: str
    master: SigningKey
    self_signing: SigningKey
    user_signing: SigningKey

    @classmethod
    def generate(cls, user_id: str) -> CrossSigningKeys:
        fresh = [_named(generate_signing_key("new")) for _ in USAGES]
        return cls(user_id, *fresh)

    @classmethod
    def from_seeds(cls, user_id: str, seeds: Mapping[str, str]) -> CrossSigningKeys:
        """From the unpadded base64 seeds by usage (the form secret storage keeps them in)."""
        keys = [_named(decode_signing_key_base64(ED25519, "seed", seeds[usage])) for usage in USAGES]
        return cls(user_id, *keys)

    def seeds(self) -> dict[str, str]:
        """The private seeds by usage. Secret: for the sealed store and secret storage only."""
        return {usage: encode_signing_key_base64(self._key(usage)) for usage in USAGES}

    def _key(self, usage: str) -> SigningKey:
        return {MASTER: self.master, SELF_SIGNING: self.self_signing, USER_SIGNING: self.user_signing}[usage]

    def public_key(self, usage: str) -> str:
        return encode_verify_key_base64(get_verify_key(self._key(usage)))

    def master_public_key(self) -> str:
        """The account's identity as clients see it (``ed25519:<this>`` in ``master_keys``)."""
        return self.public_key(MASTER)

    def key_object(self, usage: str) -> dict[str, Any]:
        """The public key object to upload; the self-signing and user-signing ones master-signed."""
        public = self.public_key(usage)
        obj: dict[str, Any] = {"user_id": self.user_id, "usage": [usage], "keys": {_key_id(public): public}}
        return obj if usage == MASTER else self.sign_with_master(obj)

    def upload_body(self) -> dict[str, Any]:
        """The body of ``/keys/device_signing/upload`` (without ``auth``)."""
        return {f"{usage}_key": self.key_object(usage) for usage in USAGES}

    def sign_with_master(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``obj`` with the master key's signature added (others' signatures kept)."""
        return sign_json(copy.deepcopy(dict(obj)), self.user_id, self.master)

    def sign_device(self, device_keys: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of the device's keys with the self-signing key's signature added."""
        signed = copy.deepcopy(dict(device_keys))
        signed.pop("unsigned", None)
        return sign_json(signed, self.user_id, self.self_signing)


# ----------------------------------------------------------------- kept sealed


async def protection_key(config: Config, db: Database, secrets: Secrets) -> str:
    """The crypto store's pickle key, found the way :class:`bot.matrix.crypto.Crypto` finds it."""
    if config.matrix.store_key:
        return config.matrix.store_key
    return await secrets.get_or_generate(db, STORE_KEY, generate=lambda: _random.token_urlsafe(32))


def _box(pickle_key: str) -> nacl.secret.SecretBox:
    key = nacl.hash.blake2b(
        pickle_key.encode("utf-8"),
        digest_size=nacl.secret.SecretBox.KEY_SIZE,
        person=_BOX_PERSON,
        encoder=nacl.encoding.RawEncoder,
    )
    return nacl.secret.SecretBox(key)


def seal(keys: CrossSigningKeys, pickle_key: str) -> str:
    """The ``core_state`` value: the seeds in a secret box, and the master public key in clear."""
    sealed = _box(pickle_key).encrypt(json.dumps(keys.seeds()).encode("utf-8"))
    return json.dumps({"version": 1, "master": keys.master_public_key(), "box": _b64(bytes(sealed))})


def unseal(value: str, user_id: str, pickle_key: str) -> CrossSigningKeys:
    try:
        stored = json.loads(value)
        box = base64.b64decode(stored["box"] + "=" * (-len(stored["box"]) % 4))
        seeds = json.loads(_box(pickle_key).decrypt(box))
        keys = CrossSigningKeys.from_seeds(user_id, seeds)
    except nacl.exceptions.CryptoError as exc:
        raise CrossSigningKeyError(
            "matrix.store_key: the cross-signing keys in the database were sealed with another "
            "store key; give the key they were made with"
        ) from exc
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise CrossSigningKeyError(f"{KEYS_STATE} in the database is damaged ({type(exc).__name__})") from exc
    if keys.master_public_key() != stored.get("master"):
        raise CrossSigningKeyError(f"{KEYS_STATE} in the database is damaged (master key mismatch)")
    return keys


class CrossSigningStore:
    """The account's keys in ``core_state``: loaded at every start, generated once."""

    def __init__(self, db: Database, user_id: str, pickle_key: str) -> None:
        self._db = db
        self._user_id = user_id
        self._pickle_key = pickle_key

    async def load(self) -> CrossSigningKeys | None:
        value = (await keyvalue.load(self._db, KEYS_STATE)).get(KEYS_STATE)
        return unseal(value, self._user_id, self._pickle_key) if value else None

    async def load_or_generate(self) -> tuple[CrossSigningKeys, bool]:
        """The stored keys, or new ones stored before anything is uploaded; (keys, new)."""
        keys = await self.load()
        if keys is not None:
            return keys, False
        return await self.replace(), True

    async def replace(self) -> CrossSigningKeys:
        """New keys in place of the stored ones (which are gone for good)."""
        fresh = CrossSigningKeys.generate(self._user_id)
        await keyvalue.save(self._db, {KEYS_STATE: seal(fresh, self._pickle_key)})
        # Two at once (the bot and `kennisbrug cross-sign`): the set that stayed is used.
        keys = await self.load()
        assert keys is not None
        return keys

    async def published(self) -> str | None:
        """The master public key the homeserver last had from the bot."""
        return (await keyvalue.load(self._db, PUBLISHED_STATE)).get(PUBLISHED_STATE)

    async def record_published(self, keys: CrossSigningKeys) -> None:
        if await self.published() != keys.master_public_key():
            await keyvalue.save(self._db, {PUBLISHED_STATE: keys.master_public_key()})

    async def signed_device(self) -> tuple[str, str] | None:
        """(device id, Ed25519 key) of the device the bot recorded as its own."""
        value = (await keyvalue.load(self._db, DEVICE_STATE)).get(DEVICE_STATE)
        parts = value.split(" ") if value else []
        return (parts[0], parts[1]) if len(parts) == 2 else None

    async def record_device(self, device_id: str, ed25519: str) -> None:
        if await self.signed_device() != (device_id, ed25519):
            await keyvalue.save(self._db, {DEVICE_STATE: f"{device_id} {ed25519}"})
