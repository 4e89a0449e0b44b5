"""Buddies: two-sided mentoring matches between members."""

from bot.config import Config
from bot.errors import ConfigError
from bot.registry import Feature
from bot.services import Services
from commands.buddy.feature import Buddy
from commands.buddy.settings import BuddySettings


def setup(services: Services) -> list[Feature]:
    buddy = Buddy(services)
    buddy.register()
    return [buddy]


def check_config(config: Config) -> list[str]:
    """Problems in the ``buddy:`` section, for ``check-config``."""
    try:
        BuddySettings.from_config(config)
    except ConfigError as exc:
        return list(exc.problems)
    return []
