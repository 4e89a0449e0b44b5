"""The member's weekly (or monthly) digest, built from every feature's section."""

from bot.registry import Feature
from bot.services import Services
from commands.digest.feature import Digest


def setup(services: Services) -> list[Feature]:
    return [Digest(services)]
