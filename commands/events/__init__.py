"""Events: announcements, sign-ups and waitlists, reminders, calendar files, attendance,
accreditation and evaluations."""

from bot.config import Config
from bot.errors import ConfigError
from bot.registry import Feature
from bot.services import Services
from commands.events.feature import Events
from commands.events.settings import EventSettings


def setup(services: Services) -> list[Feature]:
    events = Events(services)
    events.install()
    return [events]


def check_config(config: Config) -> list[str]:
    """Problems in the ``events:`` section, for ``check-config``."""
    try:
        EventSettings.from_config(config)
    except ConfigError as exc:
        return list(exc.problems)
    return []
