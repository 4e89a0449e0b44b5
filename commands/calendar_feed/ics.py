"""The feed itself: one VCALENDAR with a VEVENT per event the member signed up for, in
the community's time zone (TZID with its VTIMEZONE), under the same UID as the event's
own ``.ics`` file, so a calendar that has both shows one entry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from commands.calendar_feed.sources import WAITING, SignedUp

PRODID = "-//Kennisbrug//Agenda//NL"
CONTENT_TYPE = "text/calendar"
REFRESH = "PT1H"  # how often a calendar app should look again


def build_feed(
    events: Sequence[SignedUp], *, timezone: str, name: str, waiting_label: str, now: datetime
) -> bytes:
    # Imported on the first fetch: icalendar is large and most bots serve no feed for hours.
    from icalendar import Calendar, Event, vDuration

    zone = ZoneInfo(timezone)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", timezone)
    calendar.add("refresh-interval", vDuration.from_ical(REFRESH), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", REFRESH)
    for event in events:
        item = Event()
        item.add("uid", event.uid)
        item.add("dtstamp", event.updated_at or now)
        item.add("dtstart", event.starts_at.astimezone(zone))
        item.add("dtend", event.ends_at.astimezone(zone))
        waiting = event.signup == WAITING
        # On the waitlist: in the calendar, but plainly marked and not yet confirmed.
        item.add("summary", f"{waiting_label} {event.title}" if waiting else event.title)
        item.add("sequence", event.sequence)
        if event.cancelled:
            item.add("status", "CANCELLED")
        else:
            item.add("status", "TENTATIVE" if waiting else "CONFIRMED")
        where = ", ".join(part for part in (event.place, event.link) if part)
        if where:
            item.add("location", where)
        if event.link:
            item.add("url", event.link)
        calendar.add_component(item)
    if events:
        calendar.add_missing_timezones()
    else:
        # An empty feed still names its zone, so a subscribed app knows it from the start.
        from icalendar import Timezone

        calendar.add_component(Timezone.from_tzid(timezone))
    return bytes(calendar.to_ical())
