"""Core commands every community needs: help, language and the bot's status."""

from bot.registry import Feature
from bot.services import Services
from commands.basics.feature import CoreCommands


def setup(services: Services) -> list[Feature]:
    return [CoreCommands(services)]
