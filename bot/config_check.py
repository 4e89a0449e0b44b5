"""Everything ``check-config`` validates without touching the network or the database."""

from __future__ import annotations

import importlib
from pathlib import Path

from bot.config import Config, load_config
from bot.content import Professions
from bot.errors import ConfigError
from bot.i18n import Catalogue, CatalogueError, placeholders


def check_catalogue() -> list[str]:
    from bot.app import locale_directories

    try:
        catalogue = Catalogue.load(locale_directories())
    except CatalogueError as exc:
        return [str(exc)]
    problems = []
    nl, en = catalogue.keys("nl"), catalogue.keys("en")
    problems += [f"catalogue: {key!r} is missing in en" for key in sorted(nl - en)]
    problems += [f"catalogue: {key!r} is missing in nl" for key in sorted(en - nl)]
    for key in sorted(nl & en):
        if placeholders(catalogue.template("nl", key)) != placeholders(catalogue.template("en", key)):
            problems.append(f"catalogue: {key!r} has different placeholders in nl and en")
    return problems


def check_everything(path: Path) -> list[str]:
    """Every problem found in the config, the content files and the catalogues."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        return list(exc.problems)
    problems: list[str] = []
    try:
        Professions.load(config.community.professions_file)
    except ConfigError as exc:
        problems += exc.problems
    problems += check_catalogue()
    problems += check_feature_sections(config)
    return problems


def config_notes(path: Path) -> list[str]:
    """Things worth a word that are not errors: the bot runs, but a member notices."""
    try:
        config = load_config(path)
    except ConfigError:
        return []
    notes = []
    if config.community.privacy_contact is None:
        notes.append(
            "community.privacy_contact is not set: !privacy tells members that nobody has been "
            "named as responsible for their data yet"
        )
    return notes


def check_feature_sections(config: Config) -> list[str]:
    """Each feature package may offer ``check_config(config) -> problems`` for its section."""
    from bot.app import FEATURE_MODULES

    problems: list[str] = []
    for module_name in (*FEATURE_MODULES, *config.plugins):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            problems.append(f"plugins: {module_name!r} cannot be imported ({exc})")
            continue
        checker = getattr(module, "check_config", None)
        if callable(checker):
            problems += checker(config)
    return problems
