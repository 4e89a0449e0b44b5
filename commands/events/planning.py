"""Pure logic of planning an event: reading the options an organiser typed, the times
in the community's zone, and the research's planning advice (finding 9)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.content import Professions
from bot.converters import parse_bool, parse_date
from bot.errors import UserError
from bot.textnorm import split_list

FORMS = ("fysiek", "online", "hybride")
FORM_ALIASES = {
    "fysiek": "fysiek",
    "physical": "fysiek",
    "in-person": "fysiek",
    "live": "fysiek",
    "op locatie": "fysiek",
    "online": "online",
    "digitaal": "online",
    "hybride": "hybride",
    "hybrid": "hybride",
}
# Option names as organisers type them (Dutch and English) -> draft fields.
OPTION_NAMES = {
    "titel": "title",
    "title": "title",
    "naam": "title",
    "datum": "dates",
    "date": "dates",
    "data": "dates",
    "dates": "dates",
    "tijd": "time",
    "time": "time",
    "plaats": "place",
    "place": "place",
    "locatie": "place",
    "location": "place",
    "adres": "place",
    "link": "link",
    "url": "link",
    "vorm": "form",
    "form": "form",
    "format": "form",
    "thema": "theme",
    "theme": "theme",
    "programma": "programme",
    "programme": "programme",
    "program": "programme",
    "accreditatie": "accreditation",
    "accreditation": "accreditation",
    "lunch": "lunch",
    "capaciteit": "capacity",
    "capacity": "capacity",
    "plaatsen": "capacity",
    "doelgroep": "audience",
    "audience": "audience",
    "voor": "audience",
}
TITLE_LIMIT = 200
TEXT_LIMIT = 2000
MAX_CAPACITY = 10_000
_TIME_RANGE = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?\s*(?:-|–|—|tot|to|until)\s*(\d{1,2})(?:[:.](\d{2}))?$")
_POINTS = re.compile(r"(\d+(?:[.,]\d+)?)")


@dataclass(frozen=True)
class Draft:
    """What an organiser gave for a new event (or a change); None means not given."""

    title: str | None = None
    dates: tuple[date, ...] = ()
    start: time | None = None
    end: time | None = None
    place: str | None = None
    link: str | None = None
    form: str | None = None
    theme: str | None = None
    programme: str | None = None
    accreditation: str | None = None
    lunch: bool | None = None
    capacity: int | None = None
    audience: tuple[str, ...] | None = None
    given: frozenset[str] = field(default_factory=frozenset)


def parse_time_range(text: str) -> tuple[time, time]:
    """``09:30-13:00``, ``9.30 – 13``, ``10 tot 12``; the end must be after the start."""
    match = _TIME_RANGE.match(text.strip().lower())
    if match is None:
        raise UserError("events.error.time", value=text[:40])
    h1, m1, h2, m2 = match.groups()
    try:
        start = time(int(h1), int(m1 or 0))
        end = time(int(h2), int(m2 or 0))
    except ValueError as exc:
        raise UserError("events.error.time", value=text[:40]) from exc
    if end <= start:
        raise UserError("events.error.time_order", value=text[:40])
    return start, end


def parse_dates(text: str, today: date) -> tuple[date, ...]:
    """One date, or several separated by ``,``, ``;`` or ``en``/``and`` (a series)."""
    whole = parse_date(text, today)
    if whole is not None:
        return (whole,)
    parts = [p.strip() for p in re.split(r";|,|\s+en\s+|\s+and\s+|\|", text) if p.strip()]
    days: list[date] = []
    for part in parts:
        day = parse_date(part, today)
        if day is None:
            raise UserError("events.error.date", value=part[:40])
        days.append(day)
    if not days:
        raise UserError("events.error.date", value=text[:40])
    if len(days) > 6:
        raise UserError("events.error.too_many_dates", count=len(days))
    return tuple(sorted(days))


def parse_form(text: str) -> str:
    form = FORM_ALIASES.get(text.strip().lower())
    if form is None:
        raise UserError("events.error.form", value=text[:40])
    return form


def parse_capacity(text: str) -> int | None:
    cleaned = text.strip().lower()
    if cleaned in ("", "-", "geen", "onbeperkt", "none", "unlimited", "0"):
        return None
    if not cleaned.isdigit() or not 1 <= int(cleaned) <= MAX_CAPACITY:
        raise UserError("events.error.capacity", value=text[:20], limit=MAX_CAPACITY)
    return int(cleaned)


def parse_lunch(text: str) -> bool:
    value = parse_bool(text)
    if value is None:
        raise UserError("events.error.lunch", value=text[:20])
    return value


def parse_audience(text: str, professions: Professions) -> tuple[str, ...]:
    cleaned = text.strip().lower()
    if cleaned in ("iedereen", "alle", "allen", "everyone", "all", "alle beroepen"):
        return ()
    keys: list[str] = []
    for part in split_list(text, lambda part: professions.find(part) is not None):
        found = professions.find(part)
        if found is None:
            raise UserError("events.error.audience", value=part[:40])
        if found.key not in keys:
            keys.append(found.key)
    return tuple(keys)


def parse_link(text: str) -> str:
    cleaned = text.strip()
    if not re.match(r"^https?://\S+$", cleaned):
        raise UserError("events.error.link", value=cleaned[:60])
    return cleaned


def parse_theme(text: str, themes: Mapping[str, Mapping[str, str]]) -> str:
    cleaned = text.strip().lower()
    for key, names in themes.items():
        if cleaned == key or cleaned in (n.lower() for n in names.values()):
            return key
    raise UserError("events.error.theme", value=text[:40], known=", ".join(themes))


def _text(value: str, limit: int, name: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise UserError("events.error.empty", option=name)
    if len(cleaned) > limit:
        raise UserError("events.error.too_long", option=name, limit=limit, length=len(cleaned))
    return cleaned


def parse_options(
    options: Iterable[tuple[str, str]],
    *,
    today: date,
    professions: Professions,
    themes: Mapping[str, Mapping[str, str]],
) -> Draft:
    """The options of ``!event nieuw``/``!event wijzig`` as a draft; raises UserError."""
    values: dict[str, object] = {}
    unknown: list[str] = []
    for name, raw in options:
        target = OPTION_NAMES.get(name.lower())
        if target is None:
            unknown.append(name)
            continue
        if target == "title":
            values["title"] = _text(raw, TITLE_LIMIT, name)
        elif target == "dates":
            values["dates"] = parse_dates(raw, today)
        elif target == "time":
            values["start"], values["end"] = parse_time_range(raw)
        elif target == "place":
            values["place"] = _text(raw, 300, name)
        elif target == "link":
            values["link"] = parse_link(raw)
        elif target == "form":
            values["form"] = parse_form(raw)
        elif target == "theme":
            values["theme"] = parse_theme(raw, themes)
        elif target in ("programme", "accreditation"):
            values[target] = _text(raw, TEXT_LIMIT if target == "programme" else 200, name)
        elif target == "lunch":
            values["lunch"] = parse_lunch(raw)
        elif target == "capacity":
            values["capacity"] = parse_capacity(raw)
        elif target == "audience":
            values["audience"] = parse_audience(raw, professions)
    if unknown:
        raise UserError("events.error.unknown_options", names=", ".join(unknown[:5]))
    given = frozenset(k for k in values if k not in ("end",)) | (
        frozenset({"time"}) if "start" in values else frozenset()
    )
    return replace(Draft(), **values, given=given)  # type: ignore[arg-type]


def complete(draft: Draft) -> Draft:
    """A draft for a new event: the required options present, the form inferred."""
    missing = [
        name
        for name, value in (("titel", draft.title), ("datum", draft.dates), ("tijd", draft.start))
        if not value
    ]
    if missing:
        raise UserError("events.error.missing", names=", ".join(missing))
    form = draft.form
    if form is None:
        form = "hybride" if draft.place and draft.link else ("online" if draft.link else "fysiek")
    if form in ("fysiek", "hybride") and not draft.place:
        raise UserError("events.error.needs_place")
    if form in ("online", "hybride") and not draft.link:
        raise UserError("events.error.needs_link")
    return replace(draft, form=form)


def points_of(accreditation: str | None) -> float | None:
    """The number of points an accreditation text names ("3 PE-punten NVvA" -> 3.0)."""
    if not accreditation:
        return None
    match = _POINTS.search(accreditation)
    return float(match.group(1).replace(",", ".")) if match else None


def to_utc(day: date, wall: time, timezone: str) -> datetime:
    """A wall-clock moment in the community zone as aware UTC (DST-correct)."""
    return datetime.combine(day, wall, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def local(moment: datetime, timezone: str) -> datetime:
    return moment.astimezone(ZoneInfo(timezone))


@dataclass(frozen=True)
class Advice:
    """One planning note: a catalogue key and its values."""

    key: str
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Busy:
    """Another event, for the clash check."""

    id: int
    title: str
    starts_at: datetime
    ends_at: datetime


EVENING = time(18, 0)


def part_of_day(wall: time) -> str:
    """The part of the day a start time falls in, as the advice names it: an event at
    19:00 starts in the evening, not "'s middags"."""
    if wall >= EVENING:
        return "evening"
    return "afternoon" if wall >= time(12, 0) else "morning"


def planning_advice(
    starts_at: datetime,
    ends_at: datetime,
    timezone: str,
    *,
    good_months: Iterable[int],
    max_hours: float,
    latest_start: time,
    others: Iterable[Busy] = (),
) -> list[Advice]:
    """Friendly notes from the research: the best months, half a day at most, mornings,
    no clash with another event. Notes, never a block."""
    notes: list[Advice] = []
    start_local = local(starts_at, timezone)
    if start_local.month not in set(good_months):
        notes.append(Advice("events.advice.month"))
    hours = (ends_at - starts_at) / timedelta(hours=1)
    if hours > max_hours:
        notes.append(Advice("events.advice.long", {"hours": f"{hours:g}", "max": f"{max_hours:g}"}))
    if start_local.time() >= latest_start:
        notes.append(Advice(f"events.advice.{part_of_day(start_local.time())}"))
    for other in others:
        if other.starts_at < ends_at and starts_at < other.ends_at:
            notes.append(Advice("events.advice.clash", {"id": other.id, "title": other.title}))
    return notes
