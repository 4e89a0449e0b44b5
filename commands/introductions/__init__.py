"""Introductions by profession: onboarding, profiles, the member directory, the spotlight."""

from bot.config import Config
from bot.errors import ConfigError
from bot.registry import Feature
from bot.services import Services
from commands.introductions.feature import Introductions
from commands.introductions.settings import IntroductionSettings


def setup(services: Services) -> list[Feature]:
    return [Introductions(services)]


def check_config(config: Config) -> list[str]:
    """Problems in the ``introductions:`` section, for ``check-config``."""
    try:
        IntroductionSettings.from_config(config)
    except ConfigError as exc:
        return list(exc.problems)
    return []
