"""Screens a member's text for personal data before the bot keeps or posts it.

Members work in medical and reintegration practice: a case, a question to the
community, a buddy topic, an event programme or a profile text must never carry data
that points to a client. This module finds what most often slips in and says what it
found, masked, so the member can rewrite it; the text itself is not kept.

The screening (``screen``) is pure and runs in time linear in the text: the patterns
are written so that none of them backtracks over a long run (a 20 kB message of digits
or letters must not hold the event loop). ``PrivacyGuard`` is the service features use:
it turns findings into the refusal the member reads, in their language.

What is found, by category:

- ``bsn``: a 9-digit number (dots or spaces allowed) that passes the elfproef, or an
  8-9 digit number right after a word such as "BSN" or "burgerservicenummer";
- ``iban``: an account number that passes the IBAN check (python-stdnum), or has the
  shape of a Dutch IBAN (a typo in a real account number is still one);
- ``phone``: a valid Dutch or international phone number (phonenumbers, region NL),
  and any number written as a phone number (0 or + first, 8 to 13 digits) right after
  "tel.", "telefoon", "mobiel", "bel" and the like: the numbering plan leaves ranges
  unassigned, but a number a member typed after "bel" is a phone number all the same;
- ``email``: an e-mail address;
- ``postcode``: a Dutch postcode (``1234 AB``), and a street with a house number;
- ``birthdate``: a full date after "geboren", "geboortedatum", "geb." or "born", or
  any full date whose year makes it a plausible date of birth;
- ``name``: a capitalised name after a title such as "meneer", "mevrouw", "dhr.",
  "mw.": "mevrouw A." or "meneer X" stay allowed, the usual way to anonymise.

Checksums come from maintained libraries (python-stdnum, phonenumbers), not from code
written here.
"""

from __future__ import annotations

import asyncio
import bisect
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.errors import ConversationError, UserError
from bot.i18n import Localised

# The checksum libraries (phonenumbers, python-stdnum: about 70 modules, 1.7 MiB) are
# imported at the first screening, not at start: most hours of a community screen
# nothing, and the idle bot's memory is measured (bench/scale.py).
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import phonenumbers

    from bot.i18n import Catalogue

CATEGORIES = ("bsn", "iban", "phone", "email", "postcode", "birthdate", "name")
MASK = "•"

_BSN_CANDIDATE = re.compile(r"(?<![\w.,/+-])(\d(?:[ .]?\d){7,8})(?![\w/]|[.,]\d|-\d)")
_BSN_CONTEXT = re.compile(
    r"(?:\bbsn|burger\s?service\s?nummer|burgerservicenr|sofi[\s-]?nummer|sofinr)\b\W{0,12}$", re.IGNORECASE
)
# A number as people write a phone number: 0 or + first, then digits with spaces,
# dashes, dots or brackets.
_PHONE_WRITTEN = re.compile(r"(?<![\w+])((?:\+|0)[\d \-.()]{6,20}\d)(?![\w])")
_PHONE_CONTEXT = re.compile(
    r"\b(?:tel|telefoon\w*|telnr|mobiel\w*|mobile|gsm|bel|bellen|belt|phone|call)\b\.?"
    r"[^\d\n.;!?]{0,30}$",  # a few words, same sentence: "bel haar gerust op", "tel.:"
    re.IGNORECASE,
)
_PHONE_DIGITS = range(8, 14)
_IBAN_CANDIDATE = re.compile(r"\b([A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30})\b")
_NL_IBAN_SHAPE = re.compile(r"^NL\d{2}[A-Z]{4}\d{10}$")
_EMAIL_ADDRESS = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
_EMAIL = re.compile(_EMAIL_ADDRESS)
# Searching, the local part starts only where a run of its characters starts: without
# the look-behind the engine tries every position of a long run again (quadratic). An
# address can start mid-run only right where the one before ended (written together).
_EMAIL_RUN_START = re.compile(r"(?<![A-Za-z0-9._%+\-])" + _EMAIL_ADDRESS)
# Upper-case letters with or without a space; lower-case only when written together.
_POSTCODE = re.compile(r"\b([1-9]\d{3})(?:\s?([A-Z]{2})|([a-z]{2}))\b(?!-)")
_HOUSE_NUMBER = re.compile(r",?\s*(?:nr\.?\s*)?\d{1,4}\b")
_NOT_POSTCODE_LETTERS = frozenset(
    "MB GB KB TB EU NL BV NV KM CM MM HR AD BA VA JC PC AI EN OF IN OP TE UW ZZ WW".split()
)
_STREET = re.compile(
    r"\b[A-Z][a-zà-ÿ]+(?:straat|laan|weg|plein|gracht|kade|singel|dijk|dreef|steeg|markt|hof|pad|"
    r"park|baan|veld|erf|dam|wal)\s+\d{1,4}(?:\s?[a-zA-Z])?\b"
)
_MONTHS = (
    "januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november|december|"
    "jan|feb|mrt|apr|jun|jul|aug|sep|sept|okt|nov|dec|january|february|march|may|june|july|"
    "august|october"
)
_DATE = re.compile(
    r"\b(?:(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})|(\d{4})-(\d{2})-(\d{2})|"
    rf"(\d{{1,2}})\s+(?:{_MONTHS})\.?\s+(\d{{4}}))\b",
    re.IGNORECASE,
)
_BIRTH_CONTEXT = re.compile(
    r"(?:geboren|geb\.|geboortedatum|geboortedag|date of birth|born|dob|d\.o\.b\.)\W{0,6}(?:op\s|on\s)?$",
    re.IGNORECASE,
)
_TITLE_NAME = re.compile(
    r"\b(?i:meneer|mevrouw|mevr\.?|dhr\.?|mw\.?|mr\.?|dr\.?|drs\.?|ir\.?|ing\.?|de heer|juffrouw)\s+"
    r"((?:(?:van|de|der|den|ter|ten|te|het|van't|in 't|op)\s+){0,3}[A-Z][a-zà-ÿ'\-]+"
    r"(?:[-\s][A-Z][a-zà-ÿ'\-]+)?)"
)
_OLDEST_BIRTH_YEAR = 1920
_YOUNGEST_BIRTH_YEAR = 2012


@dataclass(frozen=True)
class Finding:
    """One piece of personal data: its category, where it is, and how to show it masked."""

    category: str
    start: int
    end: int
    masked: str


def mask(value: str) -> str:
    """``123456789`` -> ``12•••••89``; short values keep only their first character."""
    compact = "".join(value.split())
    if len(compact) <= 5:
        return compact[:1] + MASK * 3
    return compact[:2] + MASK * (len(compact) - 4) + compact[-2:]


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


class _Claimed:
    """The findings so far, which never overlap, kept in order of position so that
    "does this span overlap one?" is a binary search, not a walk over every finding
    (a long text full of numbers has thousands)."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self._starts: list[int] = []

    def append(self, finding: Finding) -> None:
        index = bisect.bisect_left(self._starts, finding.start)
        self._starts.insert(index, finding.start)
        self.findings.insert(index, finding)

    def overlaps(self, start: int, end: int) -> bool:
        # Only the last finding starting before ``end`` can reach into the span:
        # the findings are disjoint, so their ends are in order too.
        index = bisect.bisect_left(self._starts, end) - 1
        return index >= 0 and self.findings[index].end > start


def _emails(text: str) -> Iterator[re.Match[str]]:
    """What ``_EMAIL.finditer`` finds, in linear time."""
    position = 0
    while True:
        match = _EMAIL.match(text, position) if position else None
        match = match or _EMAIL_RUN_START.search(text, position)
        if match is None:
            return
        yield match
        position = match.end()


def _find_emails(text: str, found: _Claimed) -> None:
    for match in _emails(text):
        value = match.group(0)
        local, _, domain = value.partition("@")
        masked = f"{local[:1]}{MASK * 3}@{MASK * 3}.{domain.rsplit('.', 1)[-1]}"
        found.append(Finding("email", match.start(), match.end(), masked))


def _find_ibans(text: str, found: _Claimed) -> None:
    from stdnum import iban as stdnum_iban

    for match in _IBAN_CANDIDATE.finditer(text):
        value = match.group(1)
        compact = value.replace(" ", "")
        # The regex may take a word too many ("NL91 ABNA 0417 1643 00 EN"): shrink.
        while len(compact) > 15 and not (stdnum_iban.is_valid(compact) or _NL_IBAN_SHAPE.match(compact)):
            compact = compact[:-1]
        if stdnum_iban.is_valid(compact) or _NL_IBAN_SHAPE.match(compact):
            end = match.start(1)
            taken = 0
            while taken < len(compact) and end < len(text):
                if text[end] != " ":
                    taken += 1
                end += 1
            if not found.overlaps(match.start(1), end):
                found.append(Finding("iban", match.start(1), end, mask(compact)))


def _find_bsns(text: str, found: _Claimed) -> None:
    from stdnum.nl import bsn as stdnum_bsn

    for match in _BSN_CANDIDATE.finditer(text):
        value = match.group(1)
        digits = _digits(value)
        if found.overlaps(match.start(1), match.end(1)):
            continue
        padded = digits.zfill(9)
        in_context = bool(_BSN_CONTEXT.search(text[max(0, match.start(1) - 40) : match.start(1)]))
        if (len(digits) == 9 and stdnum_bsn.is_valid(padded)) or (in_context and len(digits) in (8, 9)):
            found.append(Finding("bsn", match.start(1), match.end(1), mask(digits)))


def _phone_matches(text: str) -> list[phonenumbers.PhoneNumberMatch]:
    """The valid phone numbers in ``text``: found once, used by both phone passes (the
    matcher is the slowest part of the screening)."""
    import phonenumbers

    return list(phonenumbers.PhoneNumberMatcher(text, "NL", leniency=phonenumbers.Leniency.VALID))


def _find_phones(
    matches: Sequence[phonenumbers.PhoneNumberMatch], found: _Claimed, *, dialled_only: bool = False
) -> None:
    """Phone numbers; ``dialled_only`` takes only those written with 0, + or ( first,
    which go before BSN candidates (a BSN can read as a phone number without its 0)."""
    for match in matches:
        if dialled_only and match.raw_string[:1] not in ("0", "+", "("):
            continue
        if found.overlaps(match.start, match.end):
            continue
        found.append(Finding("phone", match.start, match.end, mask(_digits(match.raw_string))))


def _find_context_phones(text: str, found: _Claimed) -> None:
    """Numbers written as a phone number after a word that says it is one, whether or
    not the numbering plan has assigned them."""
    for match in _PHONE_WRITTEN.finditer(text):
        value = match.group(1).rstrip(" -.(")
        digits = _digits(value)
        start, end = match.start(1), match.start(1) + len(value)
        if len(digits) not in _PHONE_DIGITS or found.overlaps(start, end) or _DATE.fullmatch(value):
            continue
        if _PHONE_CONTEXT.search(text[max(0, start - 40) : start]):
            found.append(Finding("phone", start, end, mask(digits)))


def _find_postcodes(text: str, found: _Claimed) -> None:
    from stdnum.nl import postcode as stdnum_postcode

    for match in _POSTCODE.finditer(text):
        letters = match.group(2) or (match.group(3) or "").upper()
        code = f"{match.group(1)}{letters}"
        if not stdnum_postcode.is_valid(code) or found.overlaps(match.start(), match.end()):
            continue
        house_number = _HOUSE_NUMBER.match(text, match.end())
        if letters in _NOT_POSTCODE_LETTERS and house_number is None:
            continue  # "1200 MB", "2 AD": units and abbreviations, unless a house number follows
        found.append(Finding("postcode", match.start(), match.end(), mask(code)))
    for match in _STREET.finditer(text):
        if not found.overlaps(match.start(), match.end()):
            found.append(Finding("postcode", match.start(), match.end(), mask(match.group(0))))


def _year(text: str) -> int:
    year = int(text)
    return year + (1900 if year >= 30 else 2000) if len(text) == 2 else year


def _find_birthdates(text: str, found: _Claimed) -> None:
    for match in _DATE.finditer(text):
        if found.overlaps(match.start(), match.end()):
            continue
        groups = match.groups()
        year_text = groups[2] or groups[3] or groups[7]
        if year_text is None:
            continue
        year = _year(year_text)
        in_context = bool(_BIRTH_CONTEXT.search(text[max(0, match.start() - 30) : match.start()]))
        if in_context or _OLDEST_BIRTH_YEAR <= year <= _YOUNGEST_BIRTH_YEAR:
            found.append(Finding("birthdate", match.start(), match.end(), mask(match.group(0))))


def _find_names(text: str, found: _Claimed) -> None:
    for match in _TITLE_NAME.finditer(text):
        name = match.group(1)
        # "mevrouw A." and "meneer X" are how cases anonymise: a name has two letters or more.
        last = name.split()[-1]
        if len(last.strip("'-")) < 2:
            continue
        if not found.overlaps(match.start(1), match.end(1)):
            found.append(Finding("name", match.start(1), match.end(1), mask(name)))


def screen(text: str) -> list[Finding]:
    """Everything in ``text`` that looks like personal data, in order of appearance."""
    found = _Claimed()
    phones = _phone_matches(text)
    # Order matters: the most specific patterns claim their characters first.
    _find_emails(text, found)
    _find_ibans(text, found)
    _find_phones(phones, found, dialled_only=True)
    _find_context_phones(text, found)
    _find_bsns(text, found)
    _find_phones(phones, found)
    _find_postcodes(text, found)
    _find_birthdates(text, found)
    _find_names(text, found)
    return list(found.findings)


def categories(text: str) -> set[str]:
    """The categories found in ``text`` (empty when it is clean)."""
    return {f.category for f in screen(text)}


class PrivacyGuard:
    """The guard as a service: screens a text a member wants the bot to post or keep,
    and refuses it with what was found, masked.

    The refusal names the findings in every language (``Localised``), so whoever renders
    the error speaks the member's language without the caller knowing it. Nothing of a
    refused text is kept: the error carries only the masked findings.
    """

    def __init__(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue

    def describe(self, language: str, findings: Sequence[Finding]) -> str:
        """What the guard found, in words and masked: "een BSN-achtig nummer 12•••••89"."""
        return "; ".join(
            self._catalogue.plain(language, f"core.guard.category.{f.category}", masked=f.masked)
            for f in findings
        )

    def _found(self, findings: Sequence[Finding]) -> Localised:
        return Localised({lang: self.describe(lang, findings) for lang in self._catalogue.languages()})

    def check_answer(self, text: str, *, key: str = "core.guard.found") -> None:
        """For a conversation's answer parser (which is synchronous): raises
        ``ConversationError`` so that the question is asked again. Answers are capped
        in length and the screening is linear, so this is quick enough on the loop."""
        findings = screen(text)
        if findings:
            raise ConversationError(key, found=self._found(findings))

    async def check(self, *texts: str | None, key: str = "core.guard.found") -> None:
        """For a command's free texts: raises ``UserError`` when any of them holds
        personal data (``None`` and empty texts pass). The screening runs in a worker
        thread, so a long message leaves the event loop free: the phone matcher, the
        slowest part, is pure Python and lets the loop's thread run in between."""
        given = [t for t in texts if t]
        if not given:
            return
        findings = await asyncio.to_thread(lambda: [f for t in given for f in screen(t)])
        if findings:
            raise UserError(key, found=self._found(findings))
