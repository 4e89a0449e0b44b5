"""The one path for "log this failure, unless the database is out of reach": the loops
that survive a failure (outbox, checkpoint, sent-message record, heartbeat) log it with
its traceback, but an outage is the database's to log, once."""

from __future__ import annotations

import logging

import pytest

from bot.storage.database import DatabaseUnavailable, log_failure

log = logging.getLogger("tests.log_failure")


def _raised(exc: Exception) -> Exception:
    try:
        raise exc
    except Exception as caught:
        return caught


def test_a_failure_is_logged_with_its_traceback_at_the_level_asked(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=log.name):
        log_failure(log, _raised(ValueError("boom")), "lane for %s failed", "!room", level=logging.ERROR)
    [record] = caplog.records
    assert record.levelno == logging.ERROR and record.getMessage() == "lane for !room failed"
    assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_an_outage_is_not_logged_here_even_when_it_is_the_cause(caplog: pytest.LogCaptureFixture) -> None:
    def wrapped() -> Exception:
        try:
            try:
                raise DatabaseUnavailable("connection refused")
            except DatabaseUnavailable as cause:
                raise RuntimeError("statement failed") from cause
        except RuntimeError as caught:
            return caught

    with caplog.at_level(logging.DEBUG, logger=log.name):
        log_failure(log, _raised(DatabaseUnavailable("connection refused")), "checkpoint failed")
        log_failure(log, wrapped(), "checkpoint failed")
    assert caplog.records == []
