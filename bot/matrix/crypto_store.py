"""nio's crypto store, with the device list loaded in one pass.

nio's ``DefaultStore.load_device_keys`` adds every stored device with
``DeviceStore.add``, which first asks ``device in store``: the device store has no
``__contains__``, so Python walks every device already in it and compares each one
(a dataclass ``__eq__``); the trust lists are searched the same way, device by device,
and each device's keys are read with a query of their own.
Loading the store at start is therefore quadratic in the devices the bot knows: with
5,000 members it was about 2 s of a 10 s restart (py-spy on ``bench/scale.py``;
``bench/device_store.py`` measures the load alone). This store gives every device the
same keys and trust state and puts it under the same user and device id, in one pass
over two queries.
"""

from __future__ import annotations

from nio.crypto import OlmDevice, TrustState
from nio.crypto.device import DeviceStore
from nio.store.database import DefaultStore, use_database
from nio.store.file_trustdb import Ed25519Key, Key, KeyStore
from nio.store.models import DeviceKeys, Keys

_Fingerprint = tuple[str, str, str]


def _fingerprint(key: Key) -> _Fingerprint:
    return (key.user_id, key.device_id, str(key.key))


class CryptoStore(DefaultStore):
    """``DefaultStore`` (the SQLite crypto store nio uses) with a linear device load."""

    @use_database
    def load_device_keys(self) -> DeviceStore:
        store = DeviceStore()
        account = self._get_account()
        if not account:
            return store
        # nio's precedence: verified over blacklisted over ignored (later entries win).
        verdicts: dict[_Fingerprint, TrustState] = {}
        lists: tuple[tuple[KeyStore, TrustState], ...] = (
            (self.ignore_db, TrustState.ignored),
            (self.blacklist_db, TrustState.blacklisted),
            (self.trust_db, TrustState.verified),
        )
        for keys, verdict in lists:
            for key in keys:
                if isinstance(key, Ed25519Key):  # the only kind a device's key equals
                    verdicts[_fingerprint(key)] = verdict
        keys_of: dict[int, dict[str, str]] = {}
        query = Keys.select(Keys.device, Keys.key_type, Keys.key).join(DeviceKeys)
        for device_row, key_type, key in query.where(DeviceKeys.account == account).tuples():
            keys_of.setdefault(device_row, {})[key_type] = key
        rows = DeviceKeys.select(
            DeviceKeys.id,
            DeviceKeys.user_id,
            DeviceKeys.device_id,
            DeviceKeys.display_name,
            DeviceKeys.deleted,
        ).where(DeviceKeys.account == account)
        for row_id, user_id, device_id, display_name, deleted in rows.tuples():
            device = OlmDevice(
                user_id, device_id, keys_of.get(row_id, {}), display_name=display_name, deleted=deleted
            )
            device.trust_state = verdicts.get(_fingerprint(Key.from_olmdevice(device)), TrustState.unset)
            # Where DeviceStore.add would put it, without asking every stored device first.
            store[device.user_id][device.id] = device
        return store
