"""Insight for organisers: cross-profession interactions and participation counts."""

from bot.registry import Feature
from bot.services import Services
from commands.stats.feature import Stats


def setup(services: Services) -> list[Feature]:
    return [Stats(services)]
