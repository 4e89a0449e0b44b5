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
```

``every_weeks: 2`` posts in every other week that the cron matches: in the weeks
0, 2, 4 ... counted from the week (Monday to Sunday, community time) that holds
``anchor`` (default 2027-01-04).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.errors import ConfigError
from bot.install_paths import bundled
from bot.scheduler import cron_trigger, next_fire_times

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


@dataclass(frozen=True)
class CasusSettings:
    library: Path
    schedules: tuple[ThemeSchedule, ...] = ()
    step_days: tuple[float, float] = (2.0, 4.0)
    close_days: float = 7.0
    invite_after_hours: float = 24.0
    invite_per_profession: int = 3
    enabled: bool = True

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

    @classmethod
    def from_config(cls, config: Config) -> CasusSettings:
        section = config.section("casus")
        problems: list[str] = []
        library = _library_path(section.get("library", "config/casus"), config.source.parent, problems)
        step_days = section.get("step_days", [2, 4])
        if (
            not isinstance(step_days, list)
            or len(step_days) != 2
            or not all(_is_number(d) and d > 0 for d in step_days)
            or step_days[0] >= step_days[1]
        ):
            problems.append("casus.step_days: must be two increasing numbers of days, e.g. [2, 4]")
            step_days = [2, 4]
        close_days = section.get("close_days", 7)
        if not _is_number(close_days) or close_days <= step_days[1]:
            problems.append(f"casus.close_days: must be a number of days after step 3 ({step_days[1]})")
            close_days = max(7, step_days[1] + 1)
        invite_hours = section.get("invite_after_hours", 24)
        if not _is_number(invite_hours) or not 0 < invite_hours <= 24 * 14:
            problems.append("casus.invite_after_hours: must be a number of hours from 1 to 336")
            invite_hours = 24
        per_profession = section.get("invite_per_profession", 3)
        if (
            isinstance(per_profession, bool)
            or not isinstance(per_profession, int)
            or not 0 <= per_profession <= 20
        ):
            problems.append("casus.invite_per_profession: must be a whole number from 0 to 20")
            per_profession = 3
        schedules = _schedules(section.get("schedules") or {}, config, problems)
        enabled = section.get("enabled", True)
        if not isinstance(enabled, bool):
            problems.append("casus.enabled: must be true or false")
            enabled = True
        if problems:
            raise ConfigError(problems)
        return cls(
            library=library,
            schedules=schedules,
            step_days=(float(step_days[0]), float(step_days[1])),
            close_days=float(close_days),
            invite_after_hours=float(invite_hours),
            invite_per_profession=per_profession,
            enabled=enabled,
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _library_path(value: Any, base: Path, problems: list[str]) -> Path:
    if not isinstance(value, str) or not value:
        problems.append("casus.library: must be a folder path")
        return bundled("config/casus")
    path = Path(value)
    if not path.is_absolute():
        path = base / path if (base / path).is_dir() else bundled(path)
    if not path.is_dir():
        problems.append(f"casus.library: {value!r} is not a folder")
    return path


def _schedules(raw: Any, config: Config, problems: list[str]) -> tuple[ThemeSchedule, ...]:
    if not isinstance(raw, Mapping):
        problems.append("casus.schedules: must map a theme key to {cron: ..., every_weeks: ...}")
        return ()
    themes = {t.key for t in config.themes}
    result: list[ThemeSchedule] = []
    for theme, entry in raw.items():
        where = f"casus.schedules.{theme}"
        if theme not in themes:
            problems.append(
                f"{where}: {theme!r} is not a configured theme (one of {', '.join(sorted(themes))})"
            )
            continue
        if isinstance(entry, str):
            entry = {"cron": entry}
        if not isinstance(entry, Mapping) or not isinstance(entry.get("cron"), str):
            problems.append(f'{where}.cron: needs a crontab expression, e.g. "30 9 * * tue"')
            continue
        cron = str(entry["cron"])
        try:
            cron_trigger(cron, config.community.timezone)
        except ValueError as exc:
            problems.append(f"{where}.cron: {exc}")
            continue
        every = entry.get("every_weeks", 1)
        if isinstance(every, bool) or not isinstance(every, int) or not 1 <= every <= 12:
            problems.append(f"{where}.every_weeks: must be a whole number from 1 to 12")
            continue
        anchor = entry.get("anchor", DEFAULT_ANCHOR)
        if isinstance(anchor, str):
            try:
                anchor = date.fromisoformat(anchor)
            except ValueError:
                anchor = None
        if not isinstance(anchor, date):
            problems.append(f"{where}.anchor: must be a date (YYYY-MM-DD)")
            continue
        unknown = sorted(str(k) for k in entry if k not in {"cron", "every_weeks", "anchor"})
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(unknown)}")
        result.append(ThemeSchedule(str(theme), cron, every, anchor))
    return tuple(result)
