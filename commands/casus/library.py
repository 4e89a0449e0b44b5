"""The casus library: cases in YAML, read and validated (pure; no database, no network).

A library is a folder of YAML files (``config/casus/``), each holding ``cases:``, a
list of cases. A case has an ``id``, a ``theme`` (a key of ``themes:`` in the config),
a ``title`` and ``text`` in every language, questions for each of the three steps of
a case discussion (``beeldvorming``, ``oordeelsvorming``, ``besluitvorming``), ``tags``
and the ``professions`` most concerned; ``roles`` optionally holds a question per
profession, used when the bot invites that profession. The last question of the last
step always asks what the case means for the employee.

Every problem is reported at once, naming the file, the case id and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError

STEPS: tuple[str, str, str] = ("beeldvorming", "oordeelsvorming", "besluitvorming")
LANGUAGES: tuple[str, str] = ("nl", "en")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9\-]{1,63}$")
TITLE_LIMIT = 120
TEXT_LIMIT = 3000
QUESTION_LIMIT = 400
# The last question of the last step names the employee, in each language.
EMPLOYEE_WORDS: Mapping[str, tuple[str, ...]] = {"nl": ("werknemer",), "en": ("employee",)}

Text = Mapping[str, str]


@dataclass(frozen=True)
class Case:
    """One case, ready to post: every text in every language."""

    id: str
    theme: str
    title: Text
    text: Text
    steps: tuple[tuple[Text, ...], tuple[Text, ...], tuple[Text, ...]]
    tags: tuple[str, ...] = ()
    professions: tuple[str, ...] = ()
    roles: Mapping[str, Text] = field(default_factory=dict)
    source: str = ""

    def title_in(self, language: str) -> str:
        return _pick(self.title, language)

    def text_in(self, language: str) -> str:
        return _pick(self.text, language)

    def questions(self, step: int, language: str) -> list[str]:
        """The questions of step 1, 2 or 3."""
        return [_pick(q, language) for q in self.steps[step - 1]]

    def role_question(self, profession: str, language: str) -> str | None:
        found = self.roles.get(profession)
        return _pick(found, language) if found else None


def _pick(texts: Text, language: str) -> str:
    return texts.get(language) or texts.get("nl") or next(iter(texts.values()), "")


@dataclass
class Library:
    """Every case by id; per theme in the order the files list them."""

    cases: dict[str, Case] = field(default_factory=dict)
    # Cases of themes the community has not configured, left out.
    skipped: list[str] = field(default_factory=list)

    def get(self, case_id: str) -> Case | None:
        return self.cases.get(case_id)

    def for_theme(self, theme: str) -> list[Case]:
        return [case for case in self.cases.values() if case.theme == theme]

    def themes(self) -> set[str]:
        return {case.theme for case in self.cases.values()}

    def __len__(self) -> int:
        return len(self.cases)


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, what: str) -> None:
        self.items.append(f"{where}: {what}")


def _texts(value: Any, where: str, problems: _Problems, limit: int) -> dict[str, str] | None:
    if not isinstance(value, Mapping):
        problems.add(where, "must give the text per language (nl: ..., en: ...)")
        return None
    result: dict[str, str] = {}
    for language in LANGUAGES:
        text = value.get(language)
        if not isinstance(text, str) or not text.strip():
            problems.add(f"{where}.{language}", "is missing or empty")
            continue
        if len(text) > limit:
            problems.add(f"{where}.{language}", f"is {len(text)} characters; at most {limit}")
        result[language] = " ".join(text.split()) if limit <= QUESTION_LIMIT else text.strip()
    unknown = sorted(str(k) for k in value if k not in LANGUAGES)
    if unknown:
        problems.add(where, f"unknown language(s) {', '.join(unknown)} (use nl and en)")
    return result if len(result) == len(LANGUAGES) else None


CASE_FIELDS = frozenset({"id", "theme", "title", "text", "steps", "tags", "professions", "roles"})


def parse_case(
    raw: Any,
    where: str,
    problems: _Problems,
    professions: Iterable[str] | None = None,
) -> Case | None:
    """One case from its YAML mapping; problems are added with ``where`` as prefix."""
    if not isinstance(raw, Mapping):
        problems.add(where, "must be a mapping with id, theme, title, text, steps")
        return None
    case_id = raw.get("id")
    if not isinstance(case_id, str) or not ID_RE.match(case_id):
        problems.add(f"{where}.id", "must be lower-case letters, digits and dashes (2-64)")
        return None
    at = f"{where} (case {case_id!r})"
    theme = raw.get("theme")
    if not isinstance(theme, str) or not ID_RE.match(theme):
        problems.add(f"{at}.theme", f"{theme!r} is not a theme key (lower-case letters, digits, dashes)")
    title = _texts(raw.get("title"), f"{at}.title", problems, TITLE_LIMIT)
    text = _texts(raw.get("text"), f"{at}.text", problems, TEXT_LIMIT)
    steps = _steps(raw.get("steps"), f"{at}.steps", problems)
    profession_keys = set(professions) if professions is not None else None
    concerned = _keys(raw.get("professions"), f"{at}.professions", problems, profession_keys)
    tags = _tags(raw.get("tags"), f"{at}.tags", problems)
    roles = _roles(raw.get("roles"), f"{at}.roles", problems, profession_keys)
    unknown_fields = sorted(str(k) for k in raw if k not in CASE_FIELDS)
    if unknown_fields:
        problems.add(at, f"unknown field(s) {', '.join(unknown_fields)}")
    if title is None or text is None or steps is None or not isinstance(theme, str):
        return None
    return Case(
        id=case_id,
        theme=theme,
        title=title,
        text=text,
        steps=steps,
        tags=tags,
        professions=concerned,
        roles=roles,
        source=where.split(":")[0],
    )


Steps = tuple[tuple[Text, ...], tuple[Text, ...], tuple[Text, ...]]


def _steps(value: Any, where: str, problems: _Problems) -> Steps | None:
    """The questions of the three steps, each a non-empty list; None unless all three are."""
    if not isinstance(value, Mapping):
        problems.add(where, f"must hold {', '.join(STEPS)}")
        return None
    steps: list[tuple[Text, ...]] = []
    for name in STEPS:
        questions = value.get(name)
        if not isinstance(questions, list) or not questions:
            problems.add(f"{where}.{name}", "must be a non-empty list of questions")
            continue
        parsed = [
            _texts(q, f"{where}.{name}[{i}]", problems, QUESTION_LIMIT) for i, q in enumerate(questions)
        ]
        steps.append(tuple(q for q in parsed if q is not None))
    unknown = sorted(str(k) for k in value if k not in STEPS)
    if unknown:
        problems.add(where, f"unknown step(s) {', '.join(unknown)} (use {', '.join(STEPS)})")
    if len(steps) != len(STEPS):
        return None
    if steps[-1]:
        _check_employee_question(steps[-1][-1], f"{where}.besluitvorming[-1]", problems)
    return (steps[0], steps[1], steps[2])


def _check_employee_question(last: Text, where: str, problems: _Problems) -> None:
    """The last question of the last step asks what the case means for the employee."""
    for language, words in EMPLOYEE_WORDS.items():
        if not any(w in last.get(language, "").lower() for w in words):
            problems.add(
                f"{where}.{language}",
                f"the last question must ask what this means for the employee ({words[0]!r})",
            )


def _tags(value: Any, where: str, problems: _Problems) -> tuple[str, ...]:
    tags = value or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.add(where, "must be a list of words")
        return ()
    return tuple(tags)


def _roles(value: Any, where: str, problems: _Problems, known: set[str] | None) -> dict[str, Text]:
    """A question per profession, asked when the bot invites that profession."""
    roles_raw = value or {}
    if not isinstance(roles_raw, Mapping):
        problems.add(where, "must map a profession to a question")
        return {}
    roles: dict[str, Text] = {}
    for key, question in roles_raw.items():
        if known is not None and key not in known:
            problems.add(f"{where}.{key}", "is not a profession of config/professions.yaml")
            continue
        parsed = _texts(question, f"{where}.{key}", problems, QUESTION_LIMIT)
        if parsed is not None:
            roles[str(key)] = parsed
    return roles


def _keys(value: Any, where: str, problems: _Problems, known: set[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.add(where, "must be a list of profession keys")
        return ()
    if known is not None:
        for item in value:
            if item not in known:
                problems.add(where, f"{item!r} is not a profession of config/professions.yaml")
    return tuple(v for v in value if known is None or v in known)


def load_library(
    folder: Path, themes: Iterable[str] | None = None, professions: Iterable[str] | None = None
) -> Library:
    """Read every ``*.yaml`` file in ``folder``; raises :class:`ConfigError` with every problem.

    With ``themes`` given, cases of other themes are left out (listed in ``skipped``):
    a community may run with fewer theme rooms than the library serves.
    """
    problems = _Problems()
    library = Library()
    if not folder.is_dir():
        raise ConfigError([f"{folder}: the casus library folder does not exist"])
    theme_keys = list(themes) if themes is not None else None
    profession_keys = list(professions) if professions is not None else None
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            problems.add(str(path), f"cannot be read as YAML ({' '.join(str(exc).split())})")
            continue
        cases = data.get("cases") if isinstance(data, Mapping) else None
        if not isinstance(cases, list):
            problems.add(str(path), "must hold 'cases:', a list of cases")
            continue
        for index, raw in enumerate(cases):
            case = parse_case(raw, f"{path}: cases[{index}]", problems, profession_keys)
            if case is None:
                continue
            if case.id in library.cases:
                other = library.cases[case.id].source
                problems.add(f"{path}: cases[{index}] (case {case.id!r}).id", f"is used before, in {other}")
                continue
            if theme_keys is not None and case.theme not in theme_keys:
                # A community without this theme's room: the case is left out, not an error.
                library.skipped.append(case.id)
                continue
            library.cases[case.id] = case
    if problems.items:
        raise ConfigError(problems.items)
    return library


def submitted_case(
    case_id: str,
    theme: str,
    title: str,
    text: str,
    extra_questions: Sequence[str],
    default_steps: Mapping[str, Sequence[Text]],
) -> Case:
    """A member's approved case: their text in both languages, the default questions of
    each step, their own questions first in the first step."""
    own: tuple[Text, ...] = tuple({lang: q for lang in LANGUAGES} for q in extra_questions if q.strip())
    steps = tuple(tuple(default_steps[name]) for name in STEPS)
    return Case(
        id=case_id,
        theme=theme,
        title={lang: title for lang in LANGUAGES},
        text={lang: text for lang in LANGUAGES},
        steps=(own + steps[0], steps[1], steps[2]),
        source="submission",
    )
