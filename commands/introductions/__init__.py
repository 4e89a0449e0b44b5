"""Introductions by profession: onboarding, profiles, the member directory, the spotlight."""

from bot.registry import Feature
from bot.services import Services
from bot.settings import config_check
from commands.introductions.feature import Introductions
from commands.introductions.settings import IntroductionSettings


def setup(services: Services) -> list[Feature]:
    return [Introductions(services)]


check_config = config_check(IntroductionSettings)
