"""The crypto store loads the same devices, with the same trust, as nio's own store, in
one pass instead of comparing every device with every other one."""

from __future__ import annotations

from pathlib import Path

import pytest
from nio.crypto import OlmAccount, OlmDevice, TrustState
from nio.store.database import DefaultStore

from bot.matrix.crypto_store import CryptoStore

OWN = "@kennisbrug:localhost"


def _device(index: int, user: str | None = None) -> OlmDevice:
    user_id = user or f"@lid{index:05d}:localhost"
    return OlmDevice(
        user_id,
        f"DEV{index:05d}",
        {"ed25519": f"ed-{index:05d}", "curve25519": f"cu-{index:05d}"},
        display_name=f"apparaat {index}",
        deleted=index % 17 == 0,
    )


def _filled(path: Path, count: int) -> list[OlmDevice]:
    """A nio store on disk with ``count`` devices, some verified, blacklisted or ignored."""
    store = DefaultStore(OWN, "BOTDEVICE", str(path), pickle_key="test")
    store.save_account(OlmAccount())
    devices = [_device(i) for i in range(count)]
    devices.append(_device(count, user="@lid00001:localhost"))  # a second device of one member
    by_user: dict[str, dict[str, OlmDevice]] = {}
    for device in devices:
        by_user.setdefault(device.user_id, {})[device.id] = device
    store.save_device_keys(by_user)
    for device in devices[::7]:
        store.verify_device(device)
    for device in devices[3::11]:
        store.blacklist_device(device)
    for device in devices[5::13]:
        store.ignore_device(device)
    # A verified key that no longer matches the device (its keys were replaced).
    stale = _device(2)
    stale.keys["ed25519"] = "ed-replaced"
    store.verify_device(stale)
    return devices


def _loaded(store: DefaultStore) -> dict[tuple[str, str], tuple[OlmDevice, TrustState]]:
    return {(d.user_id, d.id): (d, d.trust_state) for d in store.load_device_keys()}


def test_same_devices_and_trust_as_nio(tmp_path: Path) -> None:
    devices = _filled(tmp_path, 400)
    ours = _loaded(CryptoStore(OWN, "BOTDEVICE", str(tmp_path), pickle_key="test"))
    theirs = _loaded(DefaultStore(OWN, "BOTDEVICE", str(tmp_path), pickle_key="test"))
    assert ours == theirs
    assert len(ours) == len(devices)
    states = {state for _, state in ours.values()}
    assert states == {TrustState.unset, TrustState.verified, TrustState.blacklisted, TrustState.ignored}
    assert ours[("@lid00002:localhost", "DEV00002")][1] is TrustState.unset  # the stale key trusts nothing


def test_the_load_compares_no_device_with_another(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _filled(tmp_path, 300)
    comparisons = 0
    original = OlmDevice.__eq__

    def counting(self: OlmDevice, other: object) -> bool:
        nonlocal comparisons
        comparisons += 1
        return original(self, other)

    monkeypatch.setattr(OlmDevice, "__eq__", counting)
    DefaultStore(OWN, "BOTDEVICE", str(tmp_path), pickle_key="test").load_device_keys()
    quadratic = comparisons
    comparisons = 0
    CryptoStore(OWN, "BOTDEVICE", str(tmp_path), pickle_key="test").load_device_keys()
    assert quadratic > 300 * 299 // 2 * 0.9  # nio's own load: every pair
    assert comparisons == 0
