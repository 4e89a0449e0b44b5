"""Reading what organisers type, and the research's planning advice."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from bot.app import locale_directories
from bot.config import DEFAULT_PROFESSIONS_FILE
from bot.content import Professions
from bot.errors import UserError
from bot.i18n import Catalogue
from commands.events.jobs import reminder_time
from commands.events.planning import (
    Busy,
    complete,
    parse_dates,
    parse_options,
    parse_time_range,
    planning_advice,
    points_of,
    to_utc,
)
from commands.events.settings import ReminderOffset, parse_offset

TODAY = date(2027, 1, 10)
TZ = "Europe/Amsterdam"
PROFESSIONS = Professions.load(Path(DEFAULT_PROFESSIONS_FILE))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("16-03-2027", (date(2027, 3, 16),)),
        ("2027-03-16", (date(2027, 3, 16),)),
        ("dinsdag 16 maart", (date(2027, 3, 16),)),
        ("Tuesday 16 March 2027", (date(2027, 3, 16),)),
        ("16-03-2027, 13-04-2027, 11-05-2027", (date(2027, 3, 16), date(2027, 4, 13), date(2027, 5, 11))),
        ("16 maart en 13 april", (date(2027, 3, 16), date(2027, 4, 13))),
    ],
)
def test_dates_in_dutch_and_english(text: str, expected: tuple[date, ...]) -> None:
    assert parse_dates(text, TODAY) == expected


def test_bad_dates_and_times_are_explained() -> None:
    with pytest.raises(UserError) as bad_date:
        parse_dates("31-02-2027", TODAY)
    assert bad_date.value.key == "core.error.no_such_date"
    with pytest.raises(UserError) as reversed_time:
        parse_time_range("13:00-09:30")
    assert reversed_time.value.key == "events.error.time_order"
    assert parse_time_range("9.30 – 13") == (time(9, 30), time(13, 0))
    assert parse_time_range("10 tot 12:15") == (time(10, 0), time(12, 15))


def test_one_line_options() -> None:
    draft = parse_options(
        [
            ("titel", "Casus FML"),
            ("datum", "16-03-2027"),
            ("tijd", "09:30-13:00"),
            ("plaats", "Utrecht, Catharijnesingel 1"),
            ("accreditatie", "3 PE-punten NVvA"),
            ("lunch", "ja"),
            ("capaciteit", "30"),
            ("doelgroep", "BA, AD"),
        ],
        today=TODAY,
        professions=PROFESSIONS,
        themes={},
    )
    draft = complete(draft)
    assert draft.form == "fysiek" and draft.capacity == 30 and draft.lunch is True
    assert draft.audience == ("bedrijfsarts", "arbeidsdeskundige")
    with pytest.raises(UserError) as unknown:
        parse_options([("kleur", "rood")], today=TODAY, professions=PROFESSIONS, themes={})
    assert unknown.value.key == "events.error.unknown_options"
    with pytest.raises(UserError) as missing:
        complete(parse_options([("titel", "x")], today=TODAY, professions=PROFESSIONS, themes={}))
    assert missing.value.key == "events.error.missing"
    assert points_of("3 PE-punten NVvA") == 3.0 and points_of("2,5 punten") == 2.5 and points_of(None) is None


def test_planning_advice_is_friendly_and_specific() -> None:
    good = planning_advice(
        to_utc(date(2027, 4, 13), time(9, 30), TZ),
        to_utc(date(2027, 4, 13), time(13), TZ),
        TZ,
        good_months=(3, 4, 5, 9, 10, 11),
        max_hours=4,
        latest_start=time(12),
    )
    assert good == []
    start, end = to_utc(date(2027, 7, 13), time(13), TZ), to_utc(date(2027, 7, 13), time(18), TZ)
    notes = planning_advice(
        start,
        end,
        TZ,
        good_months=(3, 4, 5, 9, 10, 11),
        max_hours=4,
        latest_start=time(12),
        others=[Busy(7, "Intervisie", start, end)],
    )
    assert [n.key for n in notes] == [
        "events.advice.month",
        "events.advice.long",
        "events.advice.afternoon",
        "events.advice.clash",
    ]


def test_times_and_reminders_across_daylight_saving() -> None:
    # Summer time starts on Sunday 28 March 2027: 09:30 is 08:30 UTC before, 07:30 after.
    before = to_utc(date(2027, 3, 26), time(9, 30), TZ)
    after = to_utc(date(2027, 3, 30), time(9, 30), TZ)
    assert before == datetime(2027, 3, 26, 8, 30, tzinfo=UTC)
    assert after == datetime(2027, 3, 30, 7, 30, tzinfo=UTC)
    week = ReminderOffset("7d", parse_offset("7d").delta)  # type: ignore[union-attr]
    # A week before, at the same wall-clock time (09:30 in winter time).
    assert reminder_time(after, week, TZ) == datetime(2027, 3, 23, 8, 30, tzinfo=UTC)
    two_hours = parse_offset("2h")
    assert two_hours is not None and reminder_time(after, two_hours, TZ) == datetime(
        2027, 3, 30, 5, 30, tzinfo=UTC
    )
    # Winter time returns on 31 October 2027.
    autumn = to_utc(date(2027, 11, 2), time(9, 30), TZ)
    assert autumn == datetime(2027, 11, 2, 8, 30, tzinfo=UTC)
    assert reminder_time(autumn, week, TZ) == datetime(2027, 10, 26, 7, 30, tzinfo=UTC)


def test_offsets() -> None:
    assert parse_offset("30m") is not None and parse_offset("0d") is None and parse_offset("soon") is None


def test_the_advice_names_the_part_of_the_day_and_the_meeting() -> None:
    catalogue = Catalogue.load(locale_directories())

    def note(start: time, end: time) -> str:
        notes = planning_advice(
            to_utc(date(2027, 4, 13), start, TZ),
            to_utc(date(2027, 4, 13), end, TZ),
            TZ,
            good_months=(4,),
            max_hours=4,
            latest_start=time(11),
        )
        (advice,) = notes
        return catalogue.plain("nl", advice.key, **advice.params)

    evening = note(time(19), time(21))
    assert "'s avonds" in evening and "'s middags" not in evening
    afternoon = note(time(13, 30), time(16))
    assert "'s middags" in afternoon
    assert "ochtend" in note(time(11, 15), time(13))
    for text in (evening, afternoon):
        assert text.startswith("De bijeenkomst") and "die " in text and "Hij" not in text


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("woensdag 16 maart", "core.error.weekday_mismatch"),
        ("31 februari", "core.error.no_such_date"),
        ("16 maart en 31 april", "core.error.no_such_date"),
        ("gisteren", "events.error.date"),
    ],
)
def test_event_dates_that_cannot_be_meant_are_asked_about(text: str, key: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_dates(text, TODAY)
    assert caught.value.key == key
