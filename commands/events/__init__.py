"""Events: announcements, sign-ups and waitlists, reminders, calendar files, attendance,
accreditation and evaluations.

Where things are: ``feature.py`` assembles the feature from its command groups
(``commands_create``, ``commands_change``, ``commands_rsvp``, ``commands_listing``,
``commands_attendance``, ``commands_evaluation``) and the reaction listener
(``reactions``), all sharing ``base.EventsBase``. The work behind them: ``rendering``
(card and texts), ``cards`` (the card in the events room), ``notify`` (telling members),
``signups`` (what follows an answer), ``jobs`` (reminders and evaluation invitations),
``sources`` (digest and stats), ``accreditation`` (meetings and attendance for the
accreditation feature). ``store``, ``planning``, ``flows``, ``settings`` and
``calendar`` are the data, pure logic, conversations, config and ``.ics`` file."""

from bot.registry import Feature
from bot.services import Services
from bot.settings import config_check
from commands.events.feature import Events
from commands.events.settings import EventSettings


def setup(services: Services) -> list[Feature]:
    events = Events(services)
    events.install()
    return [events]


check_config = config_check(EventSettings)
