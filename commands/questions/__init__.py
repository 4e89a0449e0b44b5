"""Questions to a profession: ask the members of one profession, get answers in a thread."""

from bot.registry import Feature
from bot.services import Services
from bot.settings import config_check
from commands.questions.feature import Questions
from commands.questions.settings import QuestionSettings


def setup(services: Services) -> list[Feature]:
    return [Questions(services)]


check_config = config_check(QuestionSettings)
