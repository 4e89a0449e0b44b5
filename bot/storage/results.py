"""What a statement's result says about the rows it touched."""

from __future__ import annotations


def rowcount(result: object) -> int:
    """How many rows an UPDATE, DELETE or INSERT … ON CONFLICT changed; 0 when not known.

    ``AsyncSession.execute`` is typed as returning a plain ``Result``, which has no
    ``rowcount``: only the ``CursorResult`` such statements really return has one. Reading
    it through here keeps the type checker quiet without a cast or an ignore at every
    call, and a result without a count (a stand-in in a test, a driver that reports
    none) counts as 0 instead of raising.
    """
    return int(getattr(result, "rowcount", 0) or 0)
