"""The ``.ics`` file of an event: a stable UID, the community's time zone (TZID with its
VTIMEZONE), a SEQUENCE that grows with every change, CANCELLED when called off."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from commands.events.records import EventRecord

PRODID = "-//Kennisbrug//Events//NL"
CONTENT_TYPE = "text/calendar"


def filename(event: EventRecord) -> str:
    return f"bijeenkomst-{event.id}.ics"


def build_ics(event: EventRecord, timezone: str, description: str, name: str) -> bytes:
    """One VEVENT in a VCALENDAR, times in ``timezone`` (Europe/Amsterdam by default)."""
    # Imported when the first file is made: icalendar costs about 7 MB and a second of
    # start-up, and most bots make no calendar file for hours.
    from icalendar import Calendar
    from icalendar import Event as CalendarEvent

    zone = ZoneInfo(timezone)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "CANCEL" if event.status == "cancelled" else "PUBLISH")
    calendar.add("x-wr-calname", name)
    item = CalendarEvent()
    item.add("uid", event.uid)
    item.add("dtstamp", event.updated_at)
    item.add("dtstart", event.starts_at.astimezone(zone))
    item.add("dtend", event.ends_at.astimezone(zone))
    item.add("summary", event.title)
    item.add("sequence", event.sequence)
    item.add("status", "CANCELLED" if event.status == "cancelled" else "CONFIRMED")
    where = ", ".join(part for part in (event.place, event.link) if part)
    if where:
        item.add("location", where)
    if event.link:
        item.add("url", event.link)
    item.add("description", description)
    calendar.add_component(item)
    calendar.add_missing_timezones()
    return bytes(calendar.to_ical())
