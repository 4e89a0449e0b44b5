"""The ``casus:`` section of the config, with its defaults.

```yaml
casus:
  library: config/casus          # a folder of YAML files
  schedules:
    buikpijndossiers: {cron: "30 9 * * tue", every_weeks: 2, anchor: 2027-01-05}
  step_days: [2, 4]              # step 2 and 3, days after the case was posted
  close_days: 7                  # the closing summary, days after the case was posted
  invite_after_hours: 24         # after each step, invite missing professions
  invite_per_profession: 3       # at most this many members per missing profession
  holidays: NL                   # no posts on this country's public holidays (none: off)
  christmas_week: true           # no posts from 24 December to 1 January
```

``every_weeks: 2`` posts in every other week that the cron matches: in the weeks
0, 2, 4 ... counted from the week (Monday to Sunday, community time) that holds
``anchor`` (default 2027-01-04).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.content import Professions
from bot.errors import ConfigError
from bot.install_paths import bundled
from bot.scheduler.cron import cron_trigger, next_fire_times
from bot.settings import Invalid, Scope, Settings, boolean, setting, whole_range
from commands.casus.library import load_library

DEFAULT_ANCHOR = date(2027, 1, 4)


@dataclass(frozen=True)
class ThemeSchedule:
    theme: str
    cron: str
    every_weeks: int = 1
    anchor: date = DEFAULT_ANCHOR

    def week_matches(self, moment: datetime, timezone: str) -> bool:
        """Whether ``moment`` (aware) falls in a week this schedule posts in."""
        if self.every_weeks == 1:
            return True
        local = moment.astimezone(ZoneInfo(timezone)).date()
        monday = local - timedelta(days=local.weekday())
        anchor_monday = self.anchor - timedelta(days=self.anchor.weekday())
        weeks = (monday - anchor_monday).days // 7
        return weeks % self.every_weeks == 0

    def next_posts(self, after: datetime, timezone: str, n: int) -> list[datetime]:
        """The next ``n`` moments (aware UTC) this schedule posts at."""
        found: list[datetime] = []
        moment = after
        # Every cron fire in a non-matching week is skipped: look far enough ahead.
        for _ in range(20):
            batch = next_fire_times(self.cron, timezone, moment, max(n, 1) * self.every_weeks * 7)
            if not batch:
                break
            found += [m for m in batch if self.week_matches(m, timezone)]
            if len(found) >= n:
                break
            moment = batch[-1]
        return found[:n]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _library(value: Any, scope: Scope) -> Path:
    """A folder; a relative path is read from the config file's folder, else from the project."""
    if not isinstance(value, str) or not value:
        scope.report("must be a folder path")
        return bundled("config/casus")
    path = Path(value)
    if not path.is_absolute():
        base = scope.config.source.parent
        path = base / path if (base / path).is_dir() else bundled(path)
    if not path.is_dir():
        scope.report(f"{value!r} is not a folder")
    return path


def _step_days(value: Any, scope: Scope) -> tuple[float, float]:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(_is_number(d) and d > 0 for d in value)
        or value[0] >= value[1]
    ):
        raise Invalid("must be two increasing numbers of days, e.g. [2, 4]")
    return float(value[0]), float(value[1])


def _close_days(value: Any, scope: Scope) -> float:
    step3 = scope.values["step_days"][1]
    if not _is_number(value) or value <= step3:
        shown = int(step3) if float(step3).is_integer() else step3
        raise Invalid(f"must be a number of days after step 3 ({shown})")
    return float(value)


def _invite_hours(value: Any, scope: Scope) -> float:
    if not _is_number(value) or not 0 < value <= 24 * 14:
        raise Invalid("must be a number of hours from 1 to 336")
    return float(value)


@functools.cache
def _holiday_countries() -> frozenset[str]:
    """The country codes the holidays library has calendars for.

    Read from the library's registry file without importing the library: its import
    costs every start about 6 MB (all its calendars), and ``list_supported_countries()``
    loads all 250 countries (about 20 MB and seconds), for the check of one code.
    """
    spec = importlib.util.find_spec("holidays")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise Invalid("the holidays library is not installed")
    registry = Path(next(iter(spec.submodule_search_locations))) / "registry.py"
    for node in ast.parse(registry.read_text("utf-8")).body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(isinstance(t, ast.Name) and t.id == "COUNTRIES" for t in targets) and node.value:
                entries: dict[str, tuple[str, ...]] = ast.literal_eval(node.value)
                # Each entry: the class name, then its codes (ISO alpha-2, alpha-3,
                # aliases as UK) and other class names (HolidaysAX).
                return frozenset(
                    code
                    for names in entries.values()
                    for code in names[1:]
                    if code.isupper() and len(code) <= 3
                )
    raise Invalid(f"no COUNTRIES in {registry}: an unknown version of the holidays library")


def _holidays(value: Any, scope: Scope) -> str | None:
    """A country code the holidays library knows (NL), or none."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "geen", "")):
        return None
    if not isinstance(value, str) or value.strip().upper() not in _holiday_countries():
        raise Invalid(f"{value!r} is no country code the holidays library knows (e.g. NL), or none")
    return value.strip().upper()


def _schedules(value: Any, scope: Scope) -> tuple[ThemeSchedule, ...]:
    """Every valid entry; each bad one is reported under its theme's key and left out."""
    raw = value or {}
    if not isinstance(raw, Mapping):
        raise Invalid("must map a theme key to {cron: ..., every_weeks: ...}")
    config = scope.config
    themes = {t.key for t in config.themes}
    result: list[ThemeSchedule] = []
    for theme, entry in raw.items():
        where = f"{scope.key}.{theme}"
        if theme not in themes:
            choices = ", ".join(sorted(themes))
            scope.report(f"{theme!r} is not a configured theme (one of {choices})", key=where)
            continue
        if isinstance(entry, str):
            entry = {"cron": entry}
        if not isinstance(entry, Mapping) or not isinstance(entry.get("cron"), str):
            scope.report('needs a crontab expression, e.g. "30 9 * * tue"', key=f"{where}.cron")
            continue
        cron = str(entry["cron"])
        try:
            cron_trigger(cron, config.community.timezone)
        except ValueError as exc:
            scope.report(str(exc), key=f"{where}.cron")
            continue
        every = entry.get("every_weeks", 1)
        if isinstance(every, bool) or not isinstance(every, int) or not 1 <= every <= 12:
            scope.report("must be a whole number from 1 to 12", key=f"{where}.every_weeks")
            continue
        anchor = entry.get("anchor", DEFAULT_ANCHOR)
        if isinstance(anchor, str):
            try:
                anchor = date.fromisoformat(anchor)
            except ValueError:
                anchor = None
        if not isinstance(anchor, date):
            scope.report("must be a date (YYYY-MM-DD)", key=f"{where}.anchor")
            continue
        unknown = sorted(str(k) for k in entry if k not in {"cron", "every_weeks", "anchor"})
        if unknown:
            scope.report(f"unknown key(s) {', '.join(unknown)}", key=where)
        result.append(ThemeSchedule(str(theme), cron, every, anchor))
    return tuple(result)


@dataclass(frozen=True)
class CasusSettings(Settings):
    section = "casus"

    library: Path = setting(read=_library, raw="config/casus")
    step_days: tuple[float, float] = setting((2.0, 4.0), read=_step_days)
    # Read even when left out: it must come after a configured step 3.
    close_days: float = setting(7.0, read=_close_days, raw=7)
    invite_after_hours: float = setting(24.0, read=_invite_hours)
    invite_per_profession: int = setting(3, read=whole_range(0, 20))
    schedules: tuple[ThemeSchedule, ...] = setting((), read=_schedules)
    enabled: bool = setting(True, read=boolean(quote_value=False))
    holidays: str | None = setting("NL", read=_holidays)
    christmas_week: bool = setting(True, read=boolean(quote_value=False))

    def posts_on(self, moment: datetime, timezone: str) -> bool:
        """No case on a public holiday or in the Christmas week: few are at work to answer,
        and a case posted then is over before they are back."""
        day = moment.astimezone(ZoneInfo(timezone)).date()
        if self.christmas_week and ((day.month, day.day) >= (12, 24) or (day.month, day.day) == (1, 1)):
            return False
        if self.holidays is None:
            return True
        import holidays as public_holidays  # lazily: the library is large, and this runs rarely

        return day not in public_holidays.country_holidays(self.holidays, years=day.year)

    def next_posts(self, schedule: ThemeSchedule, after: datetime, timezone: str, n: int) -> list[datetime]:
        """The next ``n`` moments ``schedule`` really posts at: quiet days left out."""
        moments = schedule.next_posts(after, timezone, n + 12)
        return [m for m in moments if self.posts_on(m, timezone)][:n]

    @property
    def step_offsets(self) -> tuple[timedelta, timedelta]:
        return timedelta(days=self.step_days[0]), timedelta(days=self.step_days[1])

    @property
    def close_offset(self) -> timedelta:
        return timedelta(days=self.close_days)

    @property
    def invite_offset(self) -> timedelta:
        return timedelta(hours=self.invite_after_hours)

    def schedule_of(self, theme: str) -> ThemeSchedule | None:
        return next((s for s in self.schedules if s.theme == theme), None)


def check_library(settings: CasusSettings, config: Config) -> list[str]:
    """Problems in the case library, for ``check-config`` (after the section's own)."""
    try:
        professions = [p.key for p in Professions.load(config.community.professions_file).items]
    except ConfigError:
        professions = None  # reported by the core check already
    try:
        load_library(settings.library, [t.key for t in config.themes], professions)
    except ConfigError as exc:
        return list(exc.problems)
    return []
