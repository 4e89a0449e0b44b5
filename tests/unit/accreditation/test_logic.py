"""The pure parts: number checks, the code window, the presence lists and the CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from commands.accreditation.codes import ALPHABET, CodeState, Window, new_code, normalise, shown
from commands.accreditation.presence import Attendee, csv_text, duration_text, presence
from commands.accreditation.registers import OTHER, Number, NumberError, check_number, named_in

START = datetime(2027, 4, 13, 7, 30, tzinfo=UTC)
END = START + timedelta(hours=3, minutes=30)


@pytest.mark.parametrize(
    ("register", "typed", "expected"),
    [
        ("BIG", "12345678901", Number("big", "12345678901")),
        ("big", "123 456 789 01", Number("big", "12345678901")),
        ("BIG", "BIG-12345678901", Number("big", "12345678901")),
        ("NIP", "00123456", Number("nip", "00123456")),
        ("Registerplein", "1234567", Number("rrgz", "1234567")),
        ("rrgz", "1234567", Number("rrgz", "1234567")),
        ("SRA", "4321", Number("sra", "4321")),
        ("NOLOC", "9876", Number("noloc", "9876")),
        ("anders", "VGCT:12345", Number(OTHER, "12345", "VGCT")),
    ],
)
def test_numbers_are_cleaned_and_checked_by_shape(register: str, typed: str, expected: Number) -> None:
    assert check_number(register, typed) == expected


@pytest.mark.parametrize(
    ("register", "typed", "error"),
    [
        ("BIG", "1234567890", "accreditation.error.bad_shape"),  # 10 digits
        ("BIG", "123456789012", "accreditation.error.bad_shape"),
        ("BIG", "1234567890A", "accreditation.error.bad_shape"),
        ("NIP", "12345678901", "accreditation.error.bad_shape"),
        ("NIP", "", "accreditation.error.bad_shape"),
        ("XYZ", "123", "accreditation.error.unknown_register"),
        ("anders", "12345", "accreditation.error.bad_other"),  # no label
        ("anders", "VGCT:", "accreditation.error.bad_other"),
    ],
)
def test_numbers_that_do_not_fit_are_refused_with_the_reason(register: str, typed: str, error: str) -> None:
    with pytest.raises(NumberError) as caught:
        check_number(register, typed)
    assert caught.value.key == error


def test_import_form_carries_the_prefix() -> None:
    assert check_number("NIP", "00123456").for_import == "NIP-00123456"
    assert check_number("anders", "VGCT:12345").for_import == "VGCT-12345"
    assert check_number("registerplein", "77").for_import == "RRGZ-77"


def test_the_accreditation_text_names_registers() -> None:
    assert named_in("3 punten BIG en SRA") == {"BIG", "SRA"}
    assert named_in("2 PE-punten via Registerplein") == {"RRGZ"}
    assert named_in("3 PE-punten NVvA") == set()
    assert named_in(None) == set()


def test_codes_are_short_unambiguous_and_read_leniently() -> None:
    codes = {new_code() for _ in range(200)}
    assert len(codes) > 190  # random, not a counter
    for code in codes:
        assert len(code) == 6 and set(code) <= set(ALPHABET)
        assert not set(code) & set("01OIL")
        assert normalise(shown(code).lower()) == code
    assert normalise(" k7m-3qx ") == "K7M3QX"


def test_the_code_window_is_the_meeting_with_a_margin() -> None:
    window = Window.around(START, END, timedelta(minutes=30))
    assert window.state(START - timedelta(minutes=31)) is CodeState.EARLY
    assert window.state(START - timedelta(minutes=30)) is CodeState.VALID
    assert window.state(END + timedelta(minutes=30)) is CodeState.VALID
    assert window.state(END + timedelta(minutes=30, seconds=1)) is CodeState.EXPIRED


def _attendees() -> list[Attendee]:
    return [
        Attendee("@a:x", "Anna Arts", "Bedrijfsarts", START, (Number("big", "12345678901"),)),
        Attendee(
            "@b:x",
            "Bram de Boer",
            "Arbeidsdeskundige",
            START + timedelta(minutes=4),
            (Number("sra", "4321"), Number("rrgz", "55")),
        ),
        Attendee("@c:x", "Cor", "Jobcoach", None, ()),
        Attendee("@d:x", "=HYPERLINK(1)", "", None, (Number("big", "10987654321"),)),
    ]


def test_lists_per_register_named_registers_first_and_the_members_without_a_number() -> None:
    report = presence(_attendees(), named={"SRA", "RRGZ"})
    assert [(item.register, item.numbers, item.named) for item in report.lists] == [
        ("SRA", ("SRA-4321",), True),
        ("RRGZ", ("RRGZ-55",), True),
        ("BIG", ("BIG-10987654321", "BIG-12345678901"), False),
    ]
    assert [a.user_id for a in report.without_number] == ["@c:x"]
    everything = presence(_attendees(), named=set())
    assert [item.register for item in everything.lists] == ["BIG", "SRA", "RRGZ"]
    assert all(item.named for item in everything.lists)


def test_csv_has_a_row_per_number_and_every_attendee() -> None:
    headers = {c: c for c in ("naam", "beroep", "register", "nummer", "ingecheckt", "duur")}
    text = csv_text(presence(_attendees(), set()), headers, START, END, "Europe/Amsterdam")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["naam", "beroep", "register", "nummer", "ingecheckt", "duur"]
    assert rows[1] == ["Anna Arts", "Bedrijfsarts", "BIG", "BIG-12345678901", "2027-04-13 09:30", "3:30"]
    assert rows[2][2:4] == ["SRA", "SRA-4321"] and rows[3][2:4] == ["RRGZ", "RRGZ-55"]
    assert rows[4] == ["Cor", "Jobcoach", "", "", "", "3:30"]
    # A name a spreadsheet would run as a formula is defused.
    assert rows[5][0] == "'=HYPERLINK(1)"
    assert duration_text(START, START + timedelta(minutes=45)) == "0:45"
