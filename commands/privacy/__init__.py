"""Privacy rights: the statement, an export of everything kept, and erasure on request."""

from bot.registry import Feature
from bot.services import Services
from commands.privacy.feature import PrivacyCommands


def setup(services: Services) -> list[Feature]:
    return [PrivacyCommands(services)]
