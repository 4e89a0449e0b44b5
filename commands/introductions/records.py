"""A profile as plain, immutable data: what the directory, cards and spotlight read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ProfileRecord:
    user_id: str
    profession: str
    experience: str | None = None
    years: int | None = None
    region: str | None = None
    setting: str | None = None
    work_days: tuple[str, ...] = ()
    meet_days: tuple[str, ...] = ()
    goals: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()
    meet_professions: tuple[str, ...] = ()
    about: str | None = None
    weighing: str | None = None
    listed: bool = False
    spotlight: bool = False
    updated_at: datetime | None = None
