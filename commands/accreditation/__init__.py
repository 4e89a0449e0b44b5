"""Accreditation that really gets booked: registration numbers with consent, self
check-in with a code on the screen, presence lists per register for PE-online and GAIA,
certificates (*bewijs van deelname*) and reminders to export.

Where things are: ``feature`` (members' commands, wiring), ``organisers`` (the
organisers' commands), ``service`` (the work, callable by id: a web page can use it),
``jobs`` (certificates the day after, export reminders), ``registers``/``codes``/
``presence``/``documents`` (pure logic and files), ``store``/``models`` (tables),
``sources`` (the seam to the events feature)."""

from bot.registry import Feature
from bot.services import Services
from bot.settings import config_check
from commands.accreditation.feature import Accreditation
from commands.accreditation.settings import AccreditationSettings


def setup(services: Services) -> list[Feature]:
    feature = Accreditation(services)
    feature.install()
    return [feature]


check_config = config_check(AccreditationSettings)
