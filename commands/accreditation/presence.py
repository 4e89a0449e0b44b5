"""The presence lists an organiser pastes into PE-online or GAIA: pure functions of who
was there and the numbers they gave.

PE-online takes a list of numbers with their prefix, one a line, pasted into "Te
verwerken" under "Importeren"; GAIA is keyed on the BIG number. So the lists are per
register, and the CSV holds every attendee (also those without a number, so the
organiser sees whom to ask)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from commands.accreditation.registers import REGISTERS, Number


@dataclass(frozen=True)
class Attendee:
    user_id: str
    name: str
    profession: str
    # When the member checked in with the code; None when an organiser marked them.
    checked_in_at: datetime | None
    numbers: tuple[Number, ...] = ()


@dataclass(frozen=True)
class RegisterList:
    register: str
    numbers: tuple[str, ...]
    # False when the event's accreditation text names registers and not this one.
    named: bool = True


@dataclass(frozen=True)
class Presence:
    lists: tuple[RegisterList, ...]
    without_number: tuple[Attendee, ...]
    attendees: tuple[Attendee, ...] = field(default=())


_ORDER = {register.prefix: index for index, register in enumerate(REGISTERS)}


def presence(attendees: Sequence[Attendee], named: set[str]) -> Presence:
    """Numbers per register (the registers the accreditation names first, then the
    others, each list sorted so two exports compare line by line)."""
    per_register: dict[str, set[str]] = {}
    for attendee in attendees:
        for number in attendee.numbers:
            per_register.setdefault(number.register_name, set()).add(number.for_import)
    registers = sorted(
        per_register, key=lambda r: (bool(named) and r not in named, _ORDER.get(r, len(_ORDER)), r)
    )
    lists = tuple(
        RegisterList(r, tuple(sorted(per_register[r])), named=not named or r in named) for r in registers
    )
    without = tuple(a for a in attendees if not a.numbers)
    return Presence(lists, without, tuple(attendees))


def duration_text(starts_at: datetime, ends_at: datetime) -> str:
    """The session's length as H:MM (what accreditation counts in hours)."""
    minutes = max(int((ends_at - starts_at) / timedelta(minutes=1)), 0)
    return f"{minutes // 60}:{minutes % 60:02d}"


def csv_text(
    report: Presence,
    headers: Mapping[str, str],
    starts_at: datetime,
    ends_at: datetime,
    timezone: str,
) -> str:
    """One row per attendee and number (an attendee without a number gets one row with
    the register empty). ``headers`` are the column names in the organiser's language,
    keyed naam, beroep, register, nummer, ingecheckt, duur."""
    zone = ZoneInfo(timezone)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    columns = ("naam", "beroep", "register", "nummer", "ingecheckt", "duur")
    writer.writerow([headers[c] for c in columns])
    duration = duration_text(starts_at, ends_at)
    for attendee in report.attendees:
        at = (
            attendee.checked_in_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            if attendee.checked_in_at
            else ""
        )
        rows = [(n.register_name, n.for_import) for n in attendee.numbers] or [("", "")]
        for register, number in rows:
            writer.writerow([_cell(attendee.name), attendee.profession, register, number, at, duration])
    return out.getvalue()


def _cell(text: str) -> str:
    """A value a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
