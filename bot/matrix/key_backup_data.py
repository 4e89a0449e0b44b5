"""The session data of a key backup (``m.megolm_backup.v1.curve25519-aes-sha2``).

One room key (a Megolm inbound session) as the Client-Server API's
``BackedUpSessionData``, encrypted to the backup's Curve25519 public key with
vodozemac's ``PkEncryption``: an ephemeral Curve25519 key, HKDF-SHA-256, AES-256-CBC
and the truncated HMAC-SHA-256 exactly as libolm computed it (over an empty input, a
flaw every client shares for compatibility, so the MAC authenticates nothing). Element's
crypto uses the same code, so each reads the other's backups. Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import vodozemac
from nio.crypto.sessions import InboundGroupSession

ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2"
MEGOLM = "m.megolm.v1.aes-sha2"


def public_key_of(private_key: bytes) -> str:
    """The backup's public key (unpadded base64, as in ``auth_data``) of a private key."""
    return vodozemac.PkDecryption.from_key(
        vodozemac.Curve25519SecretKey.from_bytes(private_key)
    ).public_key.to_base64()


def session_plaintext(session: InboundGroupSession) -> dict[str, Any]:
    """What a backup holds of a session (the spec's ``BackedUpSessionData``)."""
    return {
        "algorithm": MEGOLM,
        "forwarding_curve25519_key_chain": list(session.forwarding_chain),
        "sender_key": session.sender_key,
        "sender_claimed_keys": {"ed25519": session.ed25519},
        "session_key": session.export_session(session.first_known_index),
    }


def _unpadded(data: bytes) -> str:
    """Matrix's base64: standard alphabet, no padding."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def encrypt_session(public_key: str, session: InboundGroupSession) -> dict[str, Any]:
    """The ``KeyBackupData`` of a session, encrypted to the backup's public key."""
    encryption = vodozemac.PkEncryption.from_key(vodozemac.Curve25519PublicKey.from_base64(public_key))
    plaintext = json.dumps(session_plaintext(session), separators=(",", ":")).encode()
    message = encryption.encrypt(plaintext)
    return {
        "first_message_index": session.first_known_index,
        "forwarded_count": len(session.forwarding_chain),
        # The bot cannot verify the devices the keys came from.
        "is_verified": False,
        "session_data": {
            "ephemeral": _unpadded(message.ephemeral_key),
            "ciphertext": _unpadded(message.ciphertext),
            "mac": _unpadded(message.mac),
        },
    }


def decrypt_session(private_key: bytes, session_data: Mapping[str, Any]) -> dict[str, Any]:
    """The plaintext of one backed-up session; raises ValueError when it cannot be read."""
    decryption = vodozemac.PkDecryption.from_key(vodozemac.Curve25519SecretKey.from_bytes(private_key))
    try:
        message = vodozemac.Message.from_base64(
            str(session_data["ciphertext"]), str(session_data["mac"]), str(session_data["ephemeral"])
        )
        data = json.loads(decryption.decrypt(message))
    except (KeyError, TypeError, ValueError, vodozemac.PkDecodeException) as exc:
        raise ValueError(f"unreadable session data ({type(exc).__name__})") from exc
    except Exception as exc:  # vodozemac's MAC and padding errors have no common base
        raise ValueError(f"the session data does not decrypt ({type(exc).__name__})") from exc
    if not isinstance(data, dict):
        raise ValueError("the session data is not an object")
    return data


def import_session(room_id: str, data: Mapping[str, Any]) -> InboundGroupSession:
    """A nio session from a backup's plaintext; raises ValueError when it is not one."""
    if data.get("algorithm") != MEGOLM:
        raise ValueError(f"unsupported session algorithm {data.get('algorithm')!r}")
    claimed = data.get("sender_claimed_keys")
    # Older clients wrote the chain in camelCase.
    chain = data.get("forwarding_curve25519_key_chain", data.get("forwardingCurve25519KeyChain", []))
    try:
        return InboundGroupSession.import_session(
            str(data["session_key"]),
            str(claimed["ed25519"] if isinstance(claimed, Mapping) else ""),
            str(data["sender_key"]),
            room_id,
            [str(key) for key in chain] if isinstance(chain, list) else [],
        )
    except (KeyError, vodozemac.SessionKeyDecodeException) as exc:
        raise ValueError(f"not a room key ({type(exc).__name__})") from exc
