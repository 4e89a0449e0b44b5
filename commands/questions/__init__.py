"""Questions to a profession: ask the members of one profession, get answers in a thread."""

from bot.config import Config
from bot.errors import ConfigError
from bot.registry import Feature
from bot.services import Services
from commands.questions.feature import Questions
from commands.questions.settings import QuestionSettings


def setup(services: Services) -> list[Feature]:
    return [Questions(services)]


def check_config(config: Config) -> list[str]:
    """Problems in the ``questions:`` section, for ``check-config``."""
    try:
        QuestionSettings.from_config(config)
    except ConfigError as exc:
        return list(exc.problems)
    return []
