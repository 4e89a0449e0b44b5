"""Casus prompts: scheduled cases in the theme rooms, every profession's perspective."""

from bot.registry import Feature
from bot.services import Services
from bot.settings import config_check
from commands.casus.feature import Casus
from commands.casus.settings import CasusSettings, check_library


def setup(services: Services) -> list[Feature]:
    casus = Casus(services)
    casus.register()
    return [casus]


check_config = config_check(CasusSettings, then=check_library)
