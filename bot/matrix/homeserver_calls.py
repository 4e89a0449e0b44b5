"""How the adapter waits and retries: one backoff policy and one request wrapper.

nio itself is configured to retry almost nothing (one immediate retry of a dropped
connection, no automatic 429 sleeps), so every wait is decided here and is visible in
the logs. The numbers come from measurements against a local Synapse: a homeserver
that answers 502 got about 6,800 requests in 3 s from ``sync_forever``; with this
policy it gets at most about ten in ten seconds, and the bot is back within the cap
(default 5 s) of the homeserver returning.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import TypeVar

import aiohttp
from nio import ErrorResponse, Response

from bot.backoff import Backoff
from bot.errors import InvalidCredentials, MessageRejected, RateLimited, TransportUnavailable

log = logging.getLogger(__name__)

#: Errors that mean "the network or the homeserver is briefly unavailable".
TRANSIENT_EXCEPTIONS: tuple[type[BaseException], ...] = (aiohttp.ClientError, TimeoutError, OSError)

#: A homeserver asking us to wait longer than this is treated as this (a sanity cap).
MAX_RETRY_AFTER_S = 60.0

#: Error codes that mean our credentials are gone for good.
_CREDENTIAL_ERRCODES = frozenset({"M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"})

R = TypeVar("R", bound=Response)

__all__ = ["Backoff", "request"]


def http_status(resp: Response) -> int | None:
    transport = getattr(resp, "transport_response", None)
    status = getattr(transport, "status", None)
    return status if isinstance(status, int) else None


def errcode(resp: Response) -> str | None:
    if isinstance(resp, ErrorResponse):
        return resp.status_code if isinstance(resp.status_code, str) else None
    return None


def is_credentials_error(resp: Response) -> bool:
    """The token is unknown, missing or was soft-logged-out (a 401)."""
    if not isinstance(resp, ErrorResponse):
        return False
    return errcode(resp) in _CREDENTIAL_ERRCODES or http_status(resp) == 401 or resp.soft_logout


def is_rate_limited(resp: Response) -> bool:
    return isinstance(resp, ErrorResponse) and (
        errcode(resp) == "M_LIMIT_EXCEEDED" or http_status(resp) == 429
    )


def is_server_error(resp: Response) -> bool:
    """A 5xx, or an answer that was not a Matrix error at all (a proxy's HTML page)."""
    if not isinstance(resp, ErrorResponse):
        return False
    status = http_status(resp)
    if status is not None and status >= 500:
        return True
    return status is None and errcode(resp) is None


def retry_after_s(resp: Response) -> float | None:
    """The homeserver's requested wait in seconds, when it gave one."""
    if not isinstance(resp, ErrorResponse) or not resp.retry_after_ms:
        return None
    return min(max(resp.retry_after_ms / 1000, 0.0), MAX_RETRY_AFTER_S)


def describe(resp: Response) -> str:
    """``M_FORBIDDEN (HTTP 403)``: safe to log (never contains content or tokens)."""
    return f"{errcode(resp) or 'no errcode'} (HTTP {http_status(resp) or '?'})"


async def request(
    op: Callable[[], Awaitable[R | ErrorResponse]],
    what: str,
    *,
    ok_errcodes: Collection[str] = (),
    attempts: int | None = 5,
    backoff: Backoff | None = None,
    keep_trying: Callable[[], bool] = lambda: True,
    on_rate_limited: Callable[[], Awaitable[None]] | None = None,
) -> R | ErrorResponse:
    """Run a nio call, retrying transient failures.

    Rate limits wait for ``retry_after_ms``; 5xx and connection errors wait with
    exponential backoff. ``attempts=None`` retries until ``keep_trying()`` turns false
    (a reply must outlast an outage of the homeserver). An error whose errcode is in
    ``ok_errcodes`` is returned to the caller (for example ``M_NOT_FOUND`` when
    resolving an alias). A rejected token raises :class:`InvalidCredentials`; any
    other refusal raises :class:`MessageRejected`; running out of attempts raises
    :class:`RateLimited` or :class:`TransportUnavailable`. ``what`` names the operation
    for logs and errors and must not contain message content. ``on_rate_limited`` is
    awaited after a 429, before the wait (a sender queues for its turn there).
    """
    backoff = backoff or Backoff()
    last_problem = "no attempt made"
    rate_limited = False
    attempt = 0
    while attempts is None or attempt < attempts:
        attempt += 1
        try:
            resp = await op()
        except TRANSIENT_EXCEPTIONS as exc:
            last_problem = type(exc).__name__
            rate_limited = False
            wait = backoff.next()
        else:
            if not isinstance(resp, ErrorResponse):
                return resp
            code = errcode(resp)
            if code is not None and code in ok_errcodes:
                return resp
            if is_credentials_error(resp):
                raise InvalidCredentials(f"the homeserver rejected the bot's access token ({what})")
            rate_limited = is_rate_limited(resp)
            if rate_limited:
                wait = max(retry_after_s(resp) or 0.0, backoff.next())
            elif is_server_error(resp):
                wait = backoff.next()
            else:
                raise MessageRejected(f"{what} failed: {describe(resp)}")
            last_problem = describe(resp)
        if (attempts is not None and attempt >= attempts) or not keep_trying():
            break
        log.warning("%s: %s; retrying in %.1fs (attempt %d)", what, last_problem, wait, attempt)
        if rate_limited and on_rate_limited is not None:
            await on_rate_limited()
        await asyncio.sleep(wait)
    message = f"{what} failed after {attempt} attempts: {last_problem}"
    if rate_limited:
        raise RateLimited(message)
    raise TransportUnavailable(message)
