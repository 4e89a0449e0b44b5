"""What a nudge row's statuses and its delivery job are called."""

from __future__ import annotations

DELIVER_KIND = "nudges:deliver"

PENDING = "pending"
SENT = "sent"
DROPPED = "dropped"


def deliver_job_id(nudge_id: int) -> str:
    return f"{DELIVER_KIND}:{nudge_id}"
