"""A plugin with a table of its own: one model, one migration, no commands.

Named in ``config.plugins`` it proves that a plugin adds tables, not only commands.
"""

from bot.registry import Feature
from bot.services import Services


def setup(services: Services) -> list[Feature]:
    return []
