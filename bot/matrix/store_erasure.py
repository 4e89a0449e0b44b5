"""Erasing a forgotten member from nio's crypto store (its SQLite tables and trust files).

nio has no method for this; :meth:`bot.matrix.crypto.Crypto.forget_member` decides what
goes from memory, this module deletes the rows.
"""

from __future__ import annotations

from typing import Any


def erase_from_store(store: Any, user_id: str, devices: list[Any], curve_keys: set[str]) -> int:
    """Delete the member's rows from nio's SQLite store, and their trust file lines.

    nio has no method for this; the tables are nio's own (``nio.store.models``), all
    scoped by this device's account.
    """
    from nio.store.models import (  # nio's store schema, used only here
        DeviceKeys,
        DeviceTrustState,
        Keys,
        MegolmInboundSessions,
        OlmSessions,
        TrackedUsers,
    )

    removed = 0
    with store.database.bind_ctx([*store.models, TrackedUsers]), store.database.atomic():
        account = store._get_account()
        if account is None:
            return 0
        # Not every store version has these tables (nio creates some only on upgrades).
        has_trust_table = store.database.table_exists(DeviceTrustState._meta.table_name)
        rows = list(
            DeviceKeys.select().where((DeviceKeys.account == account) & (DeviceKeys.user_id == user_id))
        )
        for row in rows:
            Keys.delete().where(Keys.device == row).execute()
            if has_trust_table:
                DeviceTrustState.delete().where(DeviceTrustState.device == row).execute()
            removed += row.delete_instance()
        if curve_keys:
            removed += (
                OlmSessions.delete()
                .where((OlmSessions.account == account) & OlmSessions.sender_key.in_(curve_keys))
                .execute()
            )
            # Forwarded chains go with their sessions (ON DELETE CASCADE).
            removed += (
                MegolmInboundSessions.delete()
                .where(
                    (MegolmInboundSessions.account == account)
                    & MegolmInboundSessions.sender_key.in_(curve_keys)
                )
                .execute()
            )
        if store.database.table_exists(TrackedUsers._meta.table_name):
            removed += (
                TrackedUsers.delete()
                .where((TrackedUsers.account == account) & (TrackedUsers.user_id == user_id))
                .execute()
            )
    # The trust state files (DefaultStore) name the user on every line of theirs.
    for name in ("trust_db", "blacklist_db", "ignore_db"):
        keys = getattr(store, name, None)
        if keys is None:
            continue
        theirs = [key for key in list(keys) if key.user_id == user_id]
        if theirs:
            keys.remove_many(theirs)
            removed += len(theirs)
    return removed
