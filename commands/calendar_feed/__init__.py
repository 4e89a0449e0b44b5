"""A personal calendar feed: ``!agenda-link`` gives a member a secret, revocable URL of
an iCalendar feed of the events they signed up for, served by the organisers' web app.

Where things are: ``feature`` (the commands), ``store``/``models`` (the link, kept only as
a hash), ``web`` (the route and the guard's exception), ``ics`` (the calendar),
``sources`` (the seam to the events feature, which implements it in
``commands/events/calendar_source.py``)."""

from bot.registry import Feature
from bot.services import Services
from commands.calendar_feed.feature import CalendarFeed


def setup(services: Services) -> list[Feature]:
    feature = CalendarFeed(services)
    feature.install()
    return [feature]
