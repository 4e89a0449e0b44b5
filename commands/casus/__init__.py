"""Casus prompts: scheduled cases in the theme rooms, every profession's perspective."""

from bot.config import Config
from bot.errors import ConfigError
from bot.registry import Feature
from bot.services import Services
from commands.casus.feature import Casus
from commands.casus.library import load_library
from commands.casus.settings import CasusSettings


def setup(services: Services) -> list[Feature]:
    casus = Casus(services)
    casus.register()
    return [casus]


def check_config(config: Config) -> list[str]:
    """Problems in the ``casus:`` section and in the case library, for ``check-config``."""
    try:
        settings = CasusSettings.from_config(config)
    except ConfigError as exc:
        return list(exc.problems)
    from bot.content import Professions

    try:
        professions = [p.key for p in Professions.load(config.community.professions_file).items]
    except ConfigError:
        professions = None  # reported by the core check already
    try:
        load_library(settings.library, [t.key for t in config.themes], professions)
    except ConfigError as exc:
        return list(exc.problems)
    return []
