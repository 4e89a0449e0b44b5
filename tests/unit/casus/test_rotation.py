"""Pure choices: the next case, the perspective meter, and every-other-week schedules."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bot.config import DEFAULT_PROFESSIONS_FILE
from bot.content import Professions
from commands.casus.rotation import UNKNOWN, perspective_meter, pick_next, scheduled_pick, upcoming
from commands.casus.settings import ThemeSchedule

TABLE = ["bedrijfsarts", "verzekeringsarts", "arbeidsdeskundige", "jobcoach", "ervaringsdeskundige", "anders"]


def test_the_meter_misses_what_the_members_list_misses() -> None:
    professions = Professions.load(DEFAULT_PROFESSIONS_FILE)
    table = [p.key for p in professions.items]
    # !leden lists every profession without members as missing, except "anders".
    members_missing = [key for key in table if key != "anders"]
    assert list(perspective_meter([], table).missing) == members_missing


def test_no_repeat_until_the_bank_is_used_up() -> None:
    bank = ["a", "b", "c"]
    history: list[tuple[str, int]] = []
    for _ in range(7):
        pick = pick_next(bank, history)
        assert pick is not None
        history.append((pick.case_id, pick.round))
    assert [c for c, _ in history] == ["a", "b", "c", "a", "b", "c", "a"]
    assert [r for _, r in history] == [1, 1, 1, 2, 2, 2, 3]
    assert pick_next([], []) is None


def test_a_case_added_later_comes_in_the_current_round() -> None:
    history = [("a", 1), ("b", 1)]
    assert pick_next(["a", "b", "new"], history).case_id == "new"  # type: ignore[union-attr]
    assert upcoming(["a", "b", "new"], history, 3) == ["new", "a", "b"]


def test_a_manually_posted_case_counts_as_used() -> None:
    assert pick_next(["a", "b", "c"], [("b", 1)]).case_id == "a"  # type: ignore[union-attr]
    assert upcoming(["a", "b", "c"], [("b", 1)], 2) == ["a", "c"]


def test_the_meter_counts_members_per_profession_and_names_the_missing() -> None:
    meter = perspective_meter(
        [
            ("@a:x", "arbeidsdeskundige"),
            ("@a:x", "arbeidsdeskundige"),
            ("@b:x", "arbeidsdeskundige"),
            ("@c:x", "jobcoach"),
            ("@d:x", UNKNOWN),
        ],
        TABLE,
    )
    assert meter.heard == (("arbeidsdeskundige", 2, 3), ("jobcoach", 1, 1), (UNKNOWN, 1, 1))
    # Every profession !leden knows, the expert by experience too; "another profession" is none.
    assert meter.missing == ("bedrijfsarts", "verzekeringsarts", "ervaringsdeskundige")
    assert meter.members == 4


def test_every_other_week_counts_from_the_anchor_week() -> None:
    schedule = ThemeSchedule("t", "30 9 * * tue", every_weeks=2, anchor=date(2027, 1, 5))
    zone = "Europe/Amsterdam"
    assert schedule.week_matches(datetime(2027, 1, 5, 8, 30, tzinfo=UTC), zone)
    assert not schedule.week_matches(datetime(2027, 1, 12, 8, 30, tzinfo=UTC), zone)
    assert schedule.week_matches(datetime(2027, 1, 19, 8, 30, tzinfo=UTC), zone)
    # Across the change to summer time: still 09:30 local, still every other week.
    posts = schedule.next_posts(datetime(2027, 3, 10, tzinfo=UTC), zone, 3)
    assert [p.isoformat() for p in posts] == [
        "2027-03-16T08:30:00+00:00",  # CET
        "2027-03-30T07:30:00+00:00",  # CEST, after the last Sunday of March
        "2027-04-13T07:30:00+00:00",
    ]


def test_a_bank_of_one_case_waits_instead_of_repeating_it() -> None:
    assert scheduled_pick(["a"], []) == pick_next(["a"], [])
    assert scheduled_pick(["a"], [("a", 1)]) is None  # not the same case two weeks later
    assert upcoming(["a"], [("a", 1)], 2) == []
    assert upcoming(["a"], [], 3) == ["a"]
    # A second case (a member's, approved) comes next; then they take turns.
    assert upcoming(["a", "b"], [("a", 1)], 3) == ["b", "a", "b"]
