"""Arguments converted from annotations, as members type them."""

from __future__ import annotations

from datetime import date
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app import locale_directories
from bot.converters import (
    ConversionContext,
    Options,
    bind_arguments,
    convert,
    inspect_params,
    parse_bool,
    parse_date,
    tokenize,
)
from bot.errors import BadArgument, MissingArgument, UserError
from bot.i18n import Catalogue, core_catalogue
from bot.ids import UserId

CTX = ConversionContext(today=date(2027, 3, 1), server_name="localhost")


async def _sample(
    ctx: object,
    who: UserId,
    count: int,
    when: date,
    mode: Literal["ja", "nee"] = "ja",
    opts: Options = Options(),
) -> None: ...


async def _rest(ctx: object, number: int, *, text: str) -> None: ...


def test_tokenize_keeps_quotes_together() -> None:
    tokens = [t.text for t in tokenize('zoek onderwerp="lange casus met FML" regio=utrecht “dubbel woord”')]
    assert tokens == ["zoek", "onderwerp=lange casus met FML", "regio=utrecht", "dubbel woord"]


def test_bind_typed_arguments_and_options() -> None:
    params = inspect_params(_sample, "sample")
    kwargs, left = bind_arguments(params, "@Bob:localhost 3 16-03-2027 nee beroep=AD regio=Utrecht", CTX)
    assert kwargs["who"] == "@bob:localhost"
    assert kwargs["count"] == 3
    assert kwargs["when"] == date(2027, 3, 16)
    assert kwargs["mode"] == "nee"
    assert dict(kwargs["opts"]) == {"beroep": "AD", "regio": "Utrecht"}
    assert left == []


def test_rest_takes_text_as_typed() -> None:
    kwargs, _ = bind_arguments(inspect_params(_rest, "rest"), '7  Hoe  weeg jij "dit"?', CTX)
    assert kwargs == {"number": 7, "text": 'Hoe  weeg jij "dit"?'}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("16-03-2027", date(2027, 3, 16)),
        ("2027-03-16", date(2027, 3, 16)),
        ("16 maart", date(2027, 3, 16)),
        ("dinsdag 16 maart", date(2027, 3, 16)),
        ("16 March 2027", date(2027, 3, 16)),
        ("March 16", date(2027, 3, 16)),
        ("1 februari", date(2028, 2, 1)),  # already past this year: next year
        ("Wednesday March 17", date(2027, 3, 17)),
        ("31-13-2027", None),
        ("gisteren", None),
    ],
)
def test_dates_in_dutch_and_english(text: str, expected: date | None) -> None:
    assert parse_date(text, date(2027, 3, 1)) == expected


@pytest.mark.parametrize(
    ("text", "nl"),
    [
        ("31-02-2027", "`31-02-2027` bestaat niet; de laatste dag van die maand is 28 februari 2027."),
        ("31 februari", "`31 februari` bestaat niet; de laatste dag van die maand is 29 februari 2028."),
        ("31 april 2027", "`31 april 2027` bestaat niet; de laatste dag van die maand is 30 april 2027."),
        (
            "woensdag 16 maart",
            "Bij `woensdag 16 maart` klopt de dag niet: die datum valt op dinsdag 16 maart. "
            "Bedoel je dinsdag 16 maart of woensdag 17 maart? Typ de datum die je bedoelt.",
        ),
        (
            "maandag 16 maart 2027",
            "Bij `maandag 16 maart 2027` klopt de dag niet: die datum valt op dinsdag 16 maart. "
            "Bedoel je dinsdag 16 maart of maandag 15 maart? Typ de datum die je bedoelt.",
        ),
    ],
)
def test_an_impossible_date_or_a_wrong_weekday_is_named(text: str, nl: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_date(text, date(2027, 3, 1))
    error = caught.value
    assert core_catalogue().plain("nl", error.key, **error.params) == nl
    assert "does not" in core_catalogue().plain("en", error.key, **error.params)


def test_bad_and_missing_arguments() -> None:
    params = inspect_params(_sample, "sample")
    with pytest.raises(BadArgument) as bad:
        bind_arguments(params, "bob@example 3 16-03-2027", CTX)
    assert bad.value.key == "core.error.bad_user"
    with pytest.raises(MissingArgument):
        bind_arguments(params, "@bob:localhost", CTX)
    with pytest.raises(BadArgument) as bad_int:
        bind_arguments(params, "@bob:localhost drie 16-03-2027", CTX)
    assert bad_int.value.key == "core.error.bad_int"


def test_bare_localpart_gets_the_home_server() -> None:
    kwargs, _ = bind_arguments(inspect_params(_sample, "s"), "bob 1 2027-01-01", CTX)
    assert kwargs["who"] == "@bob:localhost"


@given(st.text(max_size=300))
def test_tokenize_never_fails(text: str) -> None:
    tokens = tokenize(text)
    assert all(t.start <= t.end <= len(text) for t in tokens)


def test_a_bool_takes_the_catalogues_words_of_either_language() -> None:
    catalogue = Catalogue.load(locale_directories())
    with_words = ConversionContext(today=date(2027, 3, 1), server_name="localhost", catalogue=catalogue)
    for text, expected in (("aan", True), ("Yes!", True), ("nope", False), ("uit", False), ("Nee.", False)):
        assert convert(text, bool, "x", with_words) is expected
        assert parse_bool(text) is expected  # the core's own lists when none is given
    with pytest.raises(BadArgument):
        convert("misschien", bool, "x", with_words)
