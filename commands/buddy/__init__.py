"""Buddies: two-sided mentoring matches between members."""

from bot.registry import Feature
from bot.services import Services
from bot.settings import config_check
from commands.buddy.feature import Buddy
from commands.buddy.settings import BuddySettings


def setup(services: Services) -> list[Feature]:
    buddy = Buddy(services)
    buddy.register()
    return [buddy]


check_config = config_check(BuddySettings)
