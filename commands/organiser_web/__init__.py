"""A web page for organisers, served by the bot itself (aiohttp, same event loop): a
one-time login link by DM (``!beheer``), the meetings, their attendance and the presence
CSV. It reads the events and accreditation features through their seams only.

Where things are: ``feature`` (the command, the server's start and stop), ``web``
(routes, session guard, CSRF), ``store``/``models`` (hashed links and sessions),
``templates``/``static`` (Jinja2 pages, autoescaped; one CSS file)."""

from bot.registry import Feature
from bot.services import Services
from bot.settings import config_check
from commands.organiser_web.feature import OrganiserWebFeature
from commands.organiser_web.settings import WebSettings


def setup(services: Services) -> list[Feature]:
    feature = OrganiserWebFeature(services)
    feature.install()
    return [feature]


check_config = config_check(WebSettings)
