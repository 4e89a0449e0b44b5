"""Events: announcements, sign-ups and waitlists, reminders, calendar files, attendance,
accreditation and evaluations."""

from bot.registry import Feature
from bot.services import Services
from bot.settings import config_check
from commands.events.feature import Events
from commands.events.settings import EventSettings


def setup(services: Services) -> list[Feature]:
    return [Events(services)]


check_config = config_check(EventSettings)
