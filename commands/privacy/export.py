"""The export file of ``!mijngegevens``: pure functions, no services."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

CONTENT_TYPE = "application/json"


def export_filename(moment: datetime, timezone: str) -> str:
    """``kennisbrug-gegevens-2027-03-16.json``, dated in the community's time zone."""
    return f"kennisbrug-gegevens-{moment.astimezone(ZoneInfo(timezone)).date().isoformat()}.json"


def export_document(user_id: str, community: str, moment: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {"member": user_id, "generated_at": moment.isoformat(), "community": community, "data": data}


def _json_value(value: Any) -> Any:
    """Values a feature's exporter may return that JSON has no type for."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    # Better an odd text in the file than no file: the member has a right to it.
    return str(value)


def encode(document: dict[str, Any]) -> bytes:
    """Pretty, UTF-8 JSON that keeps accented letters readable (ensure_ascii off)."""
    return json.dumps(document, ensure_ascii=False, indent=2, default=_json_value).encode("utf-8") + b"\n"
