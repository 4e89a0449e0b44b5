"""The bot's cross-signing keys: the JSON they sign, the signatures, and the sealed store."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
import vodozemac
from canonicaljson import encode_canonical_json
from signedjson.key import encode_verify_key_base64, generate_signing_key, get_verify_key
from signedjson.sign import sign_json

from bot.matrix.cross_signing import (
    KEYS_STATE,
    MASTER,
    SELF_SIGNING,
    USER_SIGNING,
    CrossSigningKeyError,
    CrossSigningKeys,
    CrossSigningStore,
    is_signed_by,
    public_key_of,
    seal,
    unseal,
)
from bot.matrix.cross_signing_setup import CrossSigning, ServerKeys
from bot.storage import Database, keyvalue

BOT = "@kennisbrug:example.org"
DEVICE = "BOTDEVICE"


def device_keys() -> tuple[dict[str, Any], Any]:
    """A device's published keys, self-signed as a client does it; and the device's key."""
    key = generate_signing_key(DEVICE)
    public = encode_verify_key_base64(get_verify_key(key))
    keys = {
        "user_id": BOT,
        "device_id": DEVICE,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {f"curve25519:{DEVICE}": "c" * 43, f"ed25519:{DEVICE}": public},
    }
    return sign_json(keys, BOT, key), key


def independently_verified(obj: dict[str, Any], public: str, key_name: str) -> bool:
    """The signature checked by vodozemac (not signedjson) over the canonical JSON."""
    signature = obj["signatures"][BOT][f"ed25519:{key_name}"]
    message = encode_canonical_json({k: v for k, v in obj.items() if k not in ("signatures", "unsigned")})
    try:
        vodozemac.Ed25519PublicKey.from_base64(public).verify_signature(
            message, vodozemac.Ed25519Signature.from_base64(signature)
        )
    except vodozemac.SignatureException:
        return False
    return True


def test_the_upload_has_three_keys_and_the_two_sub_keys_are_signed_by_the_master_key() -> None:
    keys = CrossSigningKeys.generate(BOT)
    body = keys.upload_body()

    assert sorted(body) == ["master_key", "self_signing_key", "user_signing_key"]
    master = keys.master_public_key()
    assert body["master_key"] == {"user_id": BOT, "usage": [MASTER], "keys": {f"ed25519:{master}": master}}
    for usage in (SELF_SIGNING, USER_SIGNING):
        obj = body[f"{usage}_key"]
        assert obj["usage"] == [usage] and public_key_of(obj) == keys.public_key(usage)
        assert list(obj["signatures"][BOT]) == [f"ed25519:{master}"]
        assert is_signed_by(obj, BOT, master)
        assert independently_verified(obj, master, master)
    assert len({keys.public_key(u) for u in (MASTER, SELF_SIGNING, USER_SIGNING)}) == 3


def test_a_signature_fails_when_one_byte_of_the_signed_key_changes() -> None:
    keys = CrossSigningKeys.generate(BOT)
    ssk = keys.key_object(SELF_SIGNING)
    public = keys.public_key(SELF_SIGNING)
    tampered = copy.deepcopy(ssk)
    changed = chr(ord(public[5]) ^ 1) if public[5] != "A" else "B"
    tampered["keys"] = {f"ed25519:{public}": public[:5] + changed + public[6:]}

    assert is_signed_by(ssk, BOT, keys.master_public_key())
    assert not is_signed_by(tampered, BOT, keys.master_public_key())
    assert not independently_verified(tampered, keys.master_public_key(), keys.master_public_key())
    # Signed by the master key, not by another key of the account.
    assert not is_signed_by(ssk, BOT, keys.public_key(USER_SIGNING))
    # "unsigned" is not part of what is signed; a new field is.
    assert is_signed_by({**ssk, "unsigned": {"note": 1}}, BOT, keys.master_public_key())
    assert not is_signed_by({**ssk, "usage": ["master"]}, BOT, keys.master_public_key())


def test_the_device_is_signed_by_the_self_signing_key_and_keeps_its_own_signature() -> None:
    keys = CrossSigningKeys.generate(BOT)
    device, _ = device_keys()
    device_public = device["keys"][f"ed25519:{DEVICE}"]

    signed = keys.sign_device({**device, "unsigned": {"device_display_name": "bot"}})

    assert "unsigned" not in signed and "unsigned" not in device
    assert is_signed_by(signed, BOT, keys.public_key(SELF_SIGNING))
    assert is_signed_by(signed, BOT, device_public, DEVICE)  # the device's own signature stays
    assert independently_verified(signed, keys.public_key(SELF_SIGNING), keys.public_key(SELF_SIGNING))
    assert not is_signed_by(device, BOT, keys.public_key(SELF_SIGNING))
    assert not is_signed_by({**signed, "device_id": "OTHER"}, BOT, keys.public_key(SELF_SIGNING))


def test_sign_with_master_adds_the_master_signature_to_a_copy() -> None:
    keys = CrossSigningKeys.generate(BOT)
    backup_info = {"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": {"public_key": "x"}}

    signed = keys.sign_with_master(backup_info)

    assert "signatures" not in backup_info
    assert is_signed_by(signed, BOT, keys.master_public_key())


def test_the_seeds_give_back_the_same_keys() -> None:
    keys = CrossSigningKeys.generate(BOT)
    again = CrossSigningKeys.from_seeds(BOT, keys.seeds())

    assert again.upload_body() == keys.upload_body()


def test_the_sealed_keys_open_with_the_store_key_only_and_hold_no_seed_in_clear() -> None:
    keys = CrossSigningKeys.generate(BOT)
    sealed = seal(keys, "the-pickle-key-of-the-store")

    assert json.loads(sealed)["master"] == keys.master_public_key()
    for seed in keys.seeds().values():
        assert seed not in sealed
    assert unseal(sealed, BOT, "the-pickle-key-of-the-store").seeds() == keys.seeds()
    with pytest.raises(CrossSigningKeyError, match="another store key"):
        unseal(sealed, BOT, "another-pickle-key-entirely")


async def test_the_store_generates_once_and_a_restart_loads_the_same_identity(db: Database) -> None:
    store = CrossSigningStore(db, BOT, "the-pickle-key-of-the-store")

    first, new = await store.load_or_generate()
    again, new_again = await CrossSigningStore(db, BOT, "the-pickle-key-of-the-store").load_or_generate()

    assert new and not new_again
    assert again.master_public_key() == first.master_public_key()
    assert again.seeds() == first.seeds()
    stored = (await keyvalue.load(db, KEYS_STATE))[KEYS_STATE]
    assert all(seed not in stored for seed in first.seeds().values())


def test_the_server_keys_are_ours_only_when_master_and_self_signing_match() -> None:
    keys, other = CrossSigningKeys.generate(BOT), CrossSigningKeys.generate(BOT)
    device, _ = device_keys()

    def answer(owner: CrossSigningKeys) -> dict[str, Any]:
        return {
            "device_keys": {BOT: {DEVICE: device}},
            "master_keys": {BOT: owner.key_object(MASTER)},
            "self_signing_keys": {BOT: owner.key_object(SELF_SIGNING)},
        }

    assert ServerKeys.parse(answer(keys), BOT, DEVICE).are_ours(keys)
    assert not ServerKeys.parse(answer(other), BOT, DEVICE).are_ours(keys)
    assert not ServerKeys.parse({"device_keys": {}}, BOT, DEVICE).are_ours(keys)
    assert ServerKeys.parse(answer(keys), BOT, DEVICE).device == device


def test_the_signatures_upload_signs_the_device_and_the_master_key_with_the_device() -> None:
    keys = CrossSigningKeys.generate(BOT)
    device, device_key = device_keys()
    device_public = device["keys"][f"ed25519:{DEVICE}"]
    server = ServerKeys(keys.key_object(MASTER), keys.key_object(SELF_SIGNING), device)
    setup = CrossSigning.__new__(CrossSigning)
    setup._user_id = BOT

    def device_signer(message: str) -> str:
        # What the Olm account's sign() returns: unpadded base64 of the Ed25519 signature.
        return base64.b64encode(device_key.sign(message.encode()).signature).decode().rstrip("=")

    body = setup._missing_signatures(keys, server, device, device_signer)[BOT]

    assert sorted(body) == sorted([DEVICE, keys.master_public_key()])
    assert is_signed_by(body[DEVICE], BOT, keys.public_key(SELF_SIGNING))
    assert is_signed_by(body[keys.master_public_key()], BOT, device_public, DEVICE)
    assert not is_signed_by(body[keys.master_public_key()], BOT, device_public, "OTHERDEVICE")
    # Once both are on the server, nothing is left to sign.
    done = ServerKeys(body[keys.master_public_key()], server.self_signing, body[DEVICE])
    assert setup._missing_signatures(keys, done, body[DEVICE], device_signer) == {}


def test_cross_sign_is_a_command_of_its_own() -> None:
    from bot.cli import build_parser
    from bot.cli_cross_sign import cmd_cross_sign

    args = build_parser("kennisbrug").parse_args(["cross-sign", "--config", "bot.yaml"])

    assert args.func is cmd_cross_sign
