"""Key backup: the recovery key's format, the session data's encryption, the key file.

Known answers come from other implementations: the recovery key of the RFC 7748 test
key (Alice's private key) as matrix-rust-sdk, matrix-js-sdk and matrix-ios-sdk test it,
and a backed-up session with the message it decrypts from matrix-js-sdk's backup tests
(``spec/unit/crypto/backup.spec.ts``), made with libolm.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import vodozemac
from nio.crypto.sessions import InboundGroupSession

from bot.config import parse_config
from bot.matrix.key_backup_data import (
    MEGOLM,
    decrypt_session,
    encrypt_session,
    import_session,
    public_key_of,
)
from bot.matrix.recovery_key import (
    RecoveryKeyError,
    decode_recovery_key,
    encode_recovery_key,
    read_recovery_key_file,
    write_recovery_key_file,
)

RFC7748_KEY = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
RECOVERY_KEY = "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d"
#: The backup's public key of that private key, as matrix-js-sdk's test backup has it.
PUBLIC_KEY = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo"
JS_SDK_SESSION_DATA = {
    "ciphertext": "2z2M7CZ+azAiTHN1oFzZ3smAFFt+LEOYY6h3QO3XXGdw6YpNn/gpHDO6I/rgj1zNd4FoTmzcQgvKdU8kN20u5BWRHxa"
    "HTZSlne5RxE6vUdREsBgZePglBNyG0AogR/PVdcrv/v18Y6rLM5O9SELmwbV63uV9Kuu/misMxoqbuqEdG7uujyaEKtjlQsJ5MG"
    "PQOySyw7XrnesSwF6XWRMxcPGRV0xZr3s9PI350Wve3EncjRgJ9IGFru1bcptMqfXgPZkOyGvrphHoFfoK7nY3xMEHUiaTRfRIj"
    "q8HNV4o8QY1qmWGnxNBQgOlL8MZlykjg3ULmQ3DtFfQPj/YYGS3jzxvC+EBjaafmsg+52CTeK3Rswu72PX450BnSZ1i3If4xWAU"
    "KvjTpeUg5aDLqttOv1pITolTJDw5W/SD+b5rjEKg1CFCHGEGE9wwV3NfQHVCQL+dfpd7Or0poy4dqKMAi3g0o3Tg7edIF8d5rRE"
    "mxaALPyiie8PHD8mj/5Y0GLqrac4CD6+Mop7eUTzVovprjg",
    "mac": "5lxYBHQU80M",
    "ephemeral": "/Bn0A4UMFwJaDDvh0aEk1XZj3k1IfgCxgFY9P9a0b14",
}
JS_SDK_SESSION_ID = "o+21hSjP+mgEmcfdslPsQdvzWnkdt0Wyo00Kp++R8Kc"
JS_SDK_MESSAGE = (
    "AwgAEjD+VwXZ7PoGPRS/H4kwpAsMp/g+WPvJVtPEKE8fmM9IcT/NCiwPb8PehecDKP0cjm1XO88k6Bw3D17aGiBHr5iBoP7oSw8"
    "CXULXAMTkBlmkufRQq2+d0Giy1s4/Cg5n13jSVrSb2q7VTSv1ZHAFjUCsLSfR0gxqcQs"
)


# ------------------------------------------------------------------ recovery key


def test_the_recovery_key_of_the_reference_key_is_the_one_other_clients_make() -> None:
    assert encode_recovery_key(RFC7748_KEY) == RECOVERY_KEY
    assert decode_recovery_key(RECOVERY_KEY) == RFC7748_KEY
    # Spaces and line breaks as an operator may paste them do not matter.
    assert decode_recovery_key("  EsTcLW2KPGiFwKEA3As5g5c4\nBXwkqeeJZJV8Q9fugUMNUE4d ") == RFC7748_KEY


def test_a_random_key_survives_encoding_and_decoding() -> None:
    for _ in range(20):
        key = os.urandom(32)
        assert decode_recovery_key(encode_recovery_key(key)) == key


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (RECOVERY_KEY[:-1] + "e", "parity"),  # the last character mistyped
        (RECOVERY_KEY.replace("PGiF", "PGiG"), "parity"),  # one in the middle
        ("F" + RECOVERY_KEY[1:], "prefix"),
        (RECOVERY_KEY[:-5], "48 characters"),
        (RECOVERY_KEY.replace("E", "0"), "not a character"),  # base58 has no 0
    ],
)
def test_a_changed_recovery_key_is_refused(text: str, problem: str) -> None:
    with pytest.raises(RecoveryKeyError, match=problem):
        decode_recovery_key(text)


def test_the_recovery_key_file_is_written_once_and_for_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "recovery-key.txt"
    old_umask = os.umask(0o022)  # a permissive shell: the file is 0600 all the same
    try:
        text = write_recovery_key_file(path, RFC7748_KEY)
    finally:
        os.umask(old_umask)
    assert text == RECOVERY_KEY
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == RECOVERY_KEY + "\n"
    assert read_recovery_key_file(path) == RFC7748_KEY
    with pytest.raises(FileExistsError):
        write_recovery_key_file(path, os.urandom(32))
    assert read_recovery_key_file(path) == RFC7748_KEY


def test_the_recovery_key_file_defaults_to_beside_the_crypto_store(tmp_path: Path) -> None:
    raw = {
        "matrix": {"homeserver": "http://127.0.0.1:8008", "user_id": "@kb:localhost", "password": "x"},
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path}/bot.db"},
        "community": {},
        "rooms": {"welcome": "#welkom:localhost"},
    }
    config = parse_config(raw, tmp_path / "config.yaml", env={})
    assert config.matrix.store_path == tmp_path / "bot-crypto"
    assert config.matrix.recovery_key_file == tmp_path / "kennisbrug-recovery-key.txt"
    assert config.matrix.key_backup is True
    env = {"KENNISBRUG_MATRIX_RECOVERY_KEY": RECOVERY_KEY}
    assert parse_config(raw, tmp_path / "config.yaml", env=env).matrix.recovery_key == RECOVERY_KEY


# ------------------------------------------------------------------ session data


def test_a_session_backed_up_by_libolm_decrypts_and_reads_its_message() -> None:
    assert public_key_of(RFC7748_KEY) == PUBLIC_KEY
    data = decrypt_session(RFC7748_KEY, JS_SDK_SESSION_DATA)
    session = import_session("!ROOM:ID", data)
    assert session.id == JS_SDK_SESSION_ID
    assert session.sender_key == "SENDER_CURVE25519"
    assert session.ed25519 == "SENDER_ED25519"
    plaintext = session._session.decrypt(vodozemac.MegolmMessage.from_base64(JS_SDK_MESSAGE)).plaintext
    assert json.loads(plaintext) == {"room_id": "!ROOM:ID", "content": "testytest"}


def _a_room_key() -> tuple[vodozemac.GroupSession, InboundGroupSession]:
    outbound = vodozemac.GroupSession()
    inbound = InboundGroupSession(
        outbound.session_key.to_base64(), "ED25519KEY", "CURVEKEY", "!dm:localhost", ["FORWARDER"]
    )
    return outbound, inbound


def test_session_data_round_trip_keeps_the_key_and_who_sent_it() -> None:
    private = os.urandom(32)
    outbound, inbound = _a_room_key()
    message = outbound.encrypt(b"hallo")
    backed_up = encrypt_session(public_key_of(private), inbound)
    assert backed_up["first_message_index"] == 0
    assert backed_up["forwarded_count"] == 1
    assert backed_up["is_verified"] is False
    assert set(backed_up["session_data"]) == {"ephemeral", "ciphertext", "mac"}
    # Only the holder of the private key reads it.
    assert "session_key" not in json.dumps(backed_up)
    data = decrypt_session(private, backed_up["session_data"])
    assert data["algorithm"] == MEGOLM
    assert data["sender_claimed_keys"] == {"ed25519": "ED25519KEY"}
    restored = import_session("!dm:localhost", data)
    assert (restored.id, restored.sender_key, restored.forwarding_chain) == (
        inbound.id,
        "CURVEKEY",
        ["FORWARDER"],
    )
    assert restored._session.decrypt(message).plaintext == b"hallo"


def test_session_data_for_another_key_or_tampered_does_not_decrypt() -> None:
    private = os.urandom(32)
    _, inbound = _a_room_key()
    session_data = encrypt_session(public_key_of(private), inbound)["session_data"]
    with pytest.raises(ValueError):
        decrypt_session(os.urandom(32), session_data)
    with pytest.raises(ValueError):
        decrypt_session(private, {**session_data, "ciphertext": session_data["ciphertext"][:-4] + "AAAA"})
    with pytest.raises(ValueError):
        decrypt_session(private, {"mac": "x"})


# ------------------------------------------------------------------ the first start


async def test_run_prints_a_recovery_key_written_at_this_start_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from bot.recovery_commands import announce_recovery_key

    raw = {
        "matrix": {"homeserver": "http://127.0.0.1:8008", "user_id": "@kb:localhost", "password": "x"},
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path}/bot.db"},
        "community": {},
        "rooms": {"welcome": "#welkom:localhost"},
    }
    config = parse_config(raw, tmp_path / "config.yaml", env={})
    ready = asyncio.Event()
    announcing = asyncio.create_task(announce_recovery_key(config, ready))
    await asyncio.sleep(0)
    write_recovery_key_file(config.matrix.recovery_key_file, RFC7748_KEY)  # what the start does
    ready.set()
    await announcing
    out = capsys.readouterr().out
    assert RECOVERY_KEY in out and "KEEP IT SAFE" in out and str(config.matrix.recovery_key_file) in out
    # The next start finds the file: nothing is printed again.
    ready = asyncio.Event()
    announcing = asyncio.create_task(announce_recovery_key(config, ready))
    ready.set()
    await announcing
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------------ secret storage

#: A secret storage key and its description from matrix-rust-sdk's tests
#: (``from_account_data_and_base58``): the check value Element writes.
SSSS_RECOVERY_KEY = "EsTj 3yST y93F SLpB jJsz eAXc 2XzA ygD3 w69H fGaN TKBj jXEd"
SSSS_DESCRIPTION = {
    "algorithm": "m.secret_storage.v1.aes-hmac-sha2",
    "iv": "xv5b6/p3ExEw++wTyfSHEg==",
    "mac": "ujBBbXahnTAMkmPUX2/0+VTfUh63pGyVRuBcDMgmJC8=",
}


def test_the_secret_storage_check_value_is_the_one_other_clients_write() -> None:
    import base64

    from bot.matrix.secret_storage import key_description, key_fits

    key = decode_recovery_key(SSSS_RECOVERY_KEY)
    assert key_fits(key, SSSS_DESCRIPTION)
    assert not key_fits(RFC7748_KEY, SSSS_DESCRIPTION)
    made = key_description(key, "Kennisbrug", iv=base64.b64decode(SSSS_DESCRIPTION["iv"]))
    assert (made["iv"], made["mac"]) == (SSSS_DESCRIPTION["iv"], SSSS_DESCRIPTION["mac"])
    # A description without a check value: the spec says to assume the key is right.
    assert key_fits(RFC7748_KEY, {"algorithm": "m.secret_storage.v1.aes-hmac-sha2"})


def test_a_secret_round_trip_and_a_wrong_key_or_name_or_change_is_caught() -> None:
    import base64

    from bot.matrix.secret_storage import SecretStorageError, decrypt_secret, encrypt_secret

    key = os.urandom(32)
    secret = base64.b64encode(RFC7748_KEY).decode().rstrip("=")
    encrypted = encrypt_secret(key, "m.megolm_backup.v1", secret)
    assert base64.b64decode(encrypted["iv"])[8] & 0x80 == 0  # bit 63 cleared
    assert decrypt_secret(key, "m.megolm_backup.v1", encrypted) == secret
    with pytest.raises(SecretStorageError):
        decrypt_secret(os.urandom(32), "m.megolm_backup.v1", encrypted)
    with pytest.raises(SecretStorageError):
        decrypt_secret(key, "m.cross_signing.master", encrypted)
    changed = {**encrypted, "ciphertext": base64.b64encode(b"x" * 43).decode()}
    with pytest.raises(SecretStorageError):
        decrypt_secret(key, "m.megolm_backup.v1", changed)


# ------------------------------------------------------------------ what is backed up


@pytest.mark.both_databases
async def test_what_is_backed_up_survives_a_restart_and_a_new_version_starts_afresh(
    db: Any, clock: Any, tmp_path: Path
) -> None:
    from nio import AsyncClient

    from bot.matrix.key_backup import KeyBackup

    raw = {
        "matrix": {"homeserver": "http://127.0.0.1:8008", "user_id": "@kb:localhost", "password": "x"},
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path}/bot.db"},
        "community": {},
        "rooms": {"welcome": "#welkom:localhost"},
    }
    matrix = parse_config(raw, tmp_path / "config.yaml", env={}).matrix
    client = AsyncClient("http://127.0.0.1:9", "@kb:localhost")
    try:
        first = KeyBackup(client, db, clock, matrix)
        await first._use("1", PUBLIC_KEY)
        await first._record([("!dm:l", "s1"), ("!dm:l", "s2"), ("!other:l", "s3")], "1")
        # A restart: the table says what went up already.
        again = KeyBackup(client, db, clock, matrix)
        await again._use("1", PUBLIC_KEY)
        assert again._done == {"s1", "s2", "s3"}
        # Erasing: the member's sessions are no longer "backed up"; the bot's own stay marked.
        await again.forget({"!dm:l"}, [("!dm:l", "s1")])
        assert again._done == {"s2", "s3"}
        # Another backup version holds none of them: everything goes up again.
        await again._use("2", PUBLIC_KEY)
        assert again._done == set()
        await again._use("1", PUBLIC_KEY)
        assert again._done == set()
    finally:
        await client.close()
