"""The Matrix recovery key: the key backup's private key as the operator keeps it.

The format is the Client-Server API's ("Key representation"): the bytes ``0x8B 0x01``,
the 32-byte key and a parity byte (the XOR of all bytes before it), base58 encoded
(Bitcoin's alphabet) and written in groups of four characters, like
``EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d``. Element accepts the same
text. Decoding ignores whitespace and refuses a wrong prefix, length or parity, so a
mistyped character is caught before any download.

The file is written once, readable by its owner only (0600), and never overwritten.
"""

from __future__ import annotations

import os
from pathlib import Path

PREFIX = b"\x8b\x01"
KEY_LENGTH = 32
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {char: value for value, char in enumerate(_ALPHABET)}


class RecoveryKeyError(ValueError):
    """The text is not a recovery key (wrong character, prefix, length or parity)."""


def _base58_encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    chars = []
    while number:
        number, rest = divmod(number, 58)
        chars.append(_ALPHABET[rest])
    leading_zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading_zeros + "".join(reversed(chars))


def _base58_decode(text: str) -> bytes:
    number = 0
    for char in text:
        if char not in _INDEX:
            raise RecoveryKeyError(f"{char!r} is not a character of a recovery key")
        number = number * 58 + _INDEX[char]
    leading_zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * leading_zeros + body


def _parity(data: bytes) -> int:
    parity = 0
    for byte in data:
        parity ^= byte
    return parity


def encode_recovery_key(key: bytes) -> str:
    """The recovery key text of a 32-byte private key, in groups of four characters."""
    if len(key) != KEY_LENGTH:
        raise ValueError(f"a backup key has {KEY_LENGTH} bytes, not {len(key)}")
    data = PREFIX + key
    encoded = _base58_encode(data + bytes([_parity(data)]))
    return " ".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def decode_recovery_key(text: str) -> bytes:
    """The 32-byte private key in a recovery key text; raises :class:`RecoveryKeyError`."""
    data = _base58_decode("".join(text.split()))
    if len(data) != len(PREFIX) + KEY_LENGTH + 1:
        raise RecoveryKeyError("a recovery key is 48 characters long (spaces aside)")
    if not data.startswith(PREFIX):
        raise RecoveryKeyError("this is not a recovery key (wrong prefix)")
    if _parity(data) != 0:
        raise RecoveryKeyError("the recovery key has a typing error (the parity check fails)")
    return data[len(PREFIX) : -1]


def write_recovery_key_file(path: Path, key: bytes) -> str:
    """Write the key's text to ``path`` (mode 0600) and return it; never overwrites.

    Raises :class:`FileExistsError` when the file is there already: a recovery key the
    operator may have copied is never replaced by another one.
    """
    text = encode_recovery_key(key)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask said
        os.write(fd, (text + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return text


def read_recovery_key_file(path: Path) -> bytes:
    """The private key in a recovery key file (as written above, or typed by the operator)."""
    return decode_recovery_key(path.read_text(encoding="utf-8"))
