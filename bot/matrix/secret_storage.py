"""Secret storage (SSSS, ``m.secret_storage.v1.aes-hmac-sha2``) holding the backup key.

So that Element, too, can open the bot's key backup with the recovery key, the first
start keeps the backup's private key as the secret ``m.megolm_backup.v1`` in the
account's secret storage, as Element does: a random secret storage key (the one the
recovery key encodes), described in ``m.secret_storage.key.<id>`` (with the check
value: 32 zero bytes encrypted under the empty name) and made the default
(``m.secret_storage.default_key``). Each secret is encrypted with keys from
HKDF-SHA-256 (a salt of 32 zero bytes, the secret's name as info): AES-256-CTR with a
random IV whose bit 63 is cleared, and an HMAC-SHA-256 of the ciphertext.

An account that has a default secret storage key already (set up by a person in
Element, or by cross-signing) is left as it is: the bot then writes the backup key
itself as the recovery key. Restoring accepts both kinds (:func:`backup_key_from`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets as _random
from collections.abc import Mapping
from typing import Any

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from nio import AsyncClient

from bot.matrix.client import api_json_checked

ALGORITHM = "m.secret_storage.v1.aes-hmac-sha2"
DEFAULT_KEY = "m.secret_storage.default_key"
BACKUP_SECRET = "m.megolm_backup.v1"
KEY_EVENT_PREFIX = "m.secret_storage.key."


class SecretStorageError(ValueError):
    """The key does not open the secret storage, or a secret is malformed."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise SecretStorageError("not a base64 text")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError as exc:
        raise SecretStorageError("not a base64 text") from exc


def _keys(key: bytes, name: str) -> tuple[bytes, bytes]:
    derived = HKDF(key, 64, b"\0" * 32, SHA256, context=name.encode())
    assert isinstance(derived, bytes)
    return derived[:32], derived[32:]


def encrypt_secret(key: bytes, name: str, plaintext: str, iv: bytes | None = None) -> dict[str, str]:
    """``{iv, ciphertext, mac}`` of a secret (``iv`` given only by tests of known answers)."""
    if iv is None:
        fresh = bytearray(os.urandom(16))
        fresh[8] &= 0x7F  # bit 63 cleared: AES-CTR implementations agree on the counter
        iv = bytes(fresh)
    aes_key, mac_key = _keys(key, name)
    ciphertext = AES.new(aes_key, AES.MODE_CTR, nonce=b"", initial_value=iv).encrypt(plaintext.encode())
    mac = hmac.new(mac_key, ciphertext, hashlib.sha256).digest()
    return {"iv": _b64(iv), "ciphertext": _b64(ciphertext), "mac": _b64(mac)}


def decrypt_secret(key: bytes, name: str, data: Mapping[str, Any]) -> str:
    """The secret's text; raises :class:`SecretStorageError` on a wrong key or a change."""
    aes_key, mac_key = _keys(key, name)
    ciphertext = _unb64(data.get("ciphertext"))
    mac = hmac.new(mac_key, ciphertext, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, _unb64(data.get("mac"))):
        raise SecretStorageError(f"the key does not open {name or 'the key check'}")
    iv = _unb64(data.get("iv"))
    plaintext = AES.new(aes_key, AES.MODE_CTR, nonce=b"", initial_value=iv).decrypt(ciphertext)
    try:
        return plaintext.decode()
    except UnicodeDecodeError as exc:
        raise SecretStorageError(f"{name} is not a text") from exc


def key_description(key: bytes, name: str, iv: bytes | None = None) -> dict[str, str]:
    """The ``m.secret_storage.key.<id>`` content: a check value others verify the key with."""
    check = encrypt_secret(key, "", "\0" * 32, iv)
    return {"algorithm": ALGORITHM, "name": name, "iv": check["iv"], "mac": check["mac"]}


def key_fits(key: bytes, description: Mapping[str, Any]) -> bool:
    """Whether ``key`` is the key ``description`` describes (its check value matches)."""
    if description.get("algorithm") != ALGORITHM:
        return False
    if "iv" not in description or "mac" not in description:
        return True  # the spec: without a check value, assume the key is right
    try:
        expected = encrypt_secret(key, "", "\0" * 32, _unb64(description["iv"]))["mac"]
        return hmac.compare_digest(_unb64(expected), _unb64(description["mac"]))
    except SecretStorageError:
        return False


# ----------------------------------------------------------- account data


async def _account_data(client: AsyncClient, event_type: str) -> dict[str, Any]:
    assert client.user_id
    return await api_json_checked(
        client,
        "GET",
        ["user", client.user_id, "account_data", event_type],
        "reading secret storage",
        ok_statuses=(200, 404),
    )


async def _put_account_data(client: AsyncClient, event_type: str, content: dict[str, Any]) -> None:
    assert client.user_id
    await api_json_checked(
        client, "PUT", ["user", client.user_id, "account_data", event_type], "writing secret storage", content
    )


async def has_default_key(client: AsyncClient) -> bool:
    """Whether the account has a default secret storage key (someone set one up)."""
    return bool((await _account_data(client, DEFAULT_KEY)).get("key"))


async def store_backup_key(client: AsyncClient, storage_key: bytes, backup_key: bytes) -> str:
    """Put the backup key into a new default secret storage opened by ``storage_key``;
    returns the storage key's id. Only for an account without one (:func:`has_default_key`).
    """
    key_id = _random.token_urlsafe(24)
    await _put_account_data(client, KEY_EVENT_PREFIX + key_id, key_description(storage_key, "Kennisbrug"))
    secret = base64.b64encode(backup_key).decode("ascii").rstrip("=")
    encrypted = encrypt_secret(storage_key, BACKUP_SECRET, secret)
    await _put_account_data(client, BACKUP_SECRET, {"encrypted": {key_id: encrypted}})
    # Last: only a complete storage is announced as the default.
    await _put_account_data(client, DEFAULT_KEY, {"key": key_id})
    return key_id


async def backup_key_from(client: AsyncClient, storage_key: bytes) -> bytes | None:
    """The backup key kept in the default secret storage that ``storage_key`` opens.

    None when there is no such storage, the key does not fit it, or it holds no
    backup key (then ``storage_key`` may be the backup key itself).
    """
    key_id = (await _account_data(client, DEFAULT_KEY)).get("key")
    if not isinstance(key_id, str):
        return None
    if not key_fits(storage_key, await _account_data(client, KEY_EVENT_PREFIX + key_id)):
        return None
    encrypted = (await _account_data(client, BACKUP_SECRET)).get("encrypted")
    data = encrypted.get(key_id) if isinstance(encrypted, Mapping) else None
    if not isinstance(data, Mapping):
        return None
    try:
        backup_key = _unb64(decrypt_secret(storage_key, BACKUP_SECRET, data))
    except SecretStorageError:
        return None
    return backup_key if len(backup_key) == 32 else None
