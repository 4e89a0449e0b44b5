"""The adapter's small durable facts in ``core_state`` (sync token, credentials, first start)."""

from __future__ import annotations

from datetime import datetime

from bot.clock import ensure_utc
from bot.storage.keyvalue import load, remove, save, save_in

__all__ = ["load", "remove", "save", "save_in"]

ACCESS_TOKEN = "matrix.access_token"
DEVICE_ID = "matrix.device_id"
USER_ID = "matrix.user_id"
NEXT_BATCH = "matrix.next_batch"
CHECKPOINT_AT = "matrix.checkpoint_at"
FIRST_START = "matrix.first_start"


def encode_time(moment: datetime) -> str:
    return ensure_utc(moment).isoformat()


def decode_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return ensure_utc(datetime.fromisoformat(value))
    except ValueError:
        return None
