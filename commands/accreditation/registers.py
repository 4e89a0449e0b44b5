"""The registers a member's registration number may belong to, and how a number is
checked: by its shape, and by a checksum only where one is documented.

None of these registers publishes a check digit: python-stdnum (the maintained library
for such numbers) has no module for the BIG-register or the others, and no public
source documents one, so every number here is checked by its shape alone. A register
that gains a documented checksum gets a ``checksum`` function here, nowhere else.

The prefixes are what PE-online expects before a number (``NIP-00123456``, ``BIG-…``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

OTHER = "other"


@dataclass(frozen=True)
class Register:
    key: str
    prefix: str
    # What members type (lower case); the first is the label shown.
    names: tuple[str, ...]
    shape: re.Pattern[str]
    # The catalogue key naming the shape in an error ("11 cijfers").
    shape_key: str
    checksum: Callable[[str], bool] | None = None


REGISTERS: tuple[Register, ...] = (
    # BIG-register (physicians, nurses, psychologists): an 11-digit number.
    Register("big", "BIG", ("big",), re.compile(r"\d{11}"), "accreditation.shape.big"),
    # Stichting Register Arbeidsdeskundigen.
    Register("sra", "SRA", ("sra",), re.compile(r"\d{1,10}"), "accreditation.shape.digits"),
    # Nederlands Instituut van Psychologen (PE-online: NIP-00123456).
    Register("nip", "NIP", ("nip",), re.compile(r"\d{1,10}"), "accreditation.shape.digits"),
    # Registerplein (the former RRGZ, for social work and health care professionals).
    Register(
        "rrgz",
        "RRGZ",
        ("registerplein", "rrgz", "rp"),
        re.compile(r"\d{1,10}"),
        "accreditation.shape.digits",
    ),
    # NOLOC (career professionals, jobcoaches).
    Register("noloc", "NOLOC", ("noloc",), re.compile(r"\d{1,10}"), "accreditation.shape.digits"),
)
BY_NAME = {name: register for register in REGISTERS for name in register.names}
BY_KEY = {register.key: register for register in REGISTERS}
OTHER_NAMES = ("anders", "other", "overig")
_OTHER_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9&'. -]{1,29}")
_OTHER_NUMBER = re.compile(r"[A-Za-z0-9]{2,30}")


class NumberError(ValueError):
    """A number that does not fit its register: ``key`` and ``params`` say why."""

    def __init__(self, key: str, **params: str) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Number:
    """A checked registration number: ``register`` is a key of :data:`REGISTERS` or
    :data:`OTHER` (then ``label`` names the register)."""

    register: str
    number: str
    label: str | None = None

    @property
    def prefix(self) -> str:
        if self.register == OTHER:
            return re.sub(r"[^A-Z0-9]", "", (self.label or "").upper()) or "OTHER"
        return BY_KEY[self.register].prefix

    @property
    def register_name(self) -> str:
        """How the register is named in lists: the prefix, or the member's own label."""
        return self.label or self.prefix if self.register == OTHER else self.prefix

    @property
    def for_import(self) -> str:
        """The form PE-online's import takes: prefix, dash, number."""
        return f"{self.prefix}-{self.number}"


def register_named(name: str) -> Register | None:
    return BY_NAME.get(name.strip().lower())


def is_other(name: str) -> bool:
    return name.strip().lower() in OTHER_NAMES


def check_number(register_name: str, raw: str) -> Number:
    """The member's number for the named register, cleaned and checked.

    ``other`` takes ``LABEL:NUMBER`` (``VGCT:12345``). Spaces, dots and dashes are
    dropped, and a typed prefix (``BIG-123…``) is taken off."""
    from stdnum.util import clean  # at the first number, not at start (bot/privacy_guard.py)

    if is_other(register_name):
        return _check_other(raw)
    register = register_named(register_name)
    if register is None:
        raise NumberError("accreditation.error.unknown_register", name=register_name[:30].upper())
    number = clean(raw, " -./").strip()
    if number.upper().startswith(register.prefix):
        number = number[len(register.prefix) :]
    if not register.shape.fullmatch(number):
        raise NumberError("accreditation.error.bad_shape", register=register.prefix, shape=register.shape_key)
    if register.checksum is not None and not register.checksum(number):
        raise NumberError("accreditation.error.bad_checksum", register=register.prefix)
    return Number(register.key, number)


def _check_other(raw: str) -> Number:
    from stdnum.util import clean

    label, sep, number = raw.partition(":")
    label = label.strip()
    number = clean(number, " -./").strip()
    if not sep or not _OTHER_LABEL.fullmatch(label) or not _OTHER_NUMBER.fullmatch(number):
        raise NumberError("accreditation.error.bad_other")
    return Number(OTHER, number, label)


def named_in(accreditation: str | None) -> set[str]:
    """The registers an event's accreditation text names (``3 punten BIG, SRA``): the
    prefixes of known registers whose name appears as a word; empty when none does."""
    if not accreditation:
        return set()
    words = {w.lower() for w in re.findall(r"[A-Za-z]+", accreditation)}
    return {register.prefix for register in REGISTERS if words & set(register.names)}
