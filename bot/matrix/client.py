"""Building the nio client and getting it logged in, without ever logging a secret.

Credentials are tried in this order, each checked with ``whoami``:

1. the token a previous run stored in ``core_state`` (``matrix.access_token``,
   ``matrix.device_id``, ``matrix.user_id``);
2. ``matrix.access_token`` from the configuration;
3. a password login (at most once per start), whose token and device id are stored
   for the next start. The stored device id is reused, so the bot keeps one device
   (which matters once end-to-end encryption is switched on).

A rejected token with no password to fall back on raises :class:`InvalidCredentials`;
the bot never loops on bad credentials.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    KeysQueryResponse,
    LoginResponse,
    Response,
    WhoamiResponse,
)

from bot.config import Config
from bot.errors import InvalidCredentials, TransportError
from bot.matrix import state
from bot.matrix.crypto_store import CryptoStore
from bot.matrix.homeserver_calls import TRANSIENT_EXCEPTIONS, Backoff, describe, request
from bot.storage.database import Database

log = logging.getLogger(__name__)

CLIENT_API = "/_matrix/client/v3"


class BotClient(AsyncClient):
    """nio's client, telling :attr:`keys_observer` about every device-key query it answers.

    nio queries keys itself too (inside ``room_send``); the device trust decisions
    (:mod:`bot.matrix.device_trust`) must see each answer before a room key is shared
    with what it returned, wherever the query came from.
    """

    keys_observer: Callable[[KeysQueryResponse], None] | None = None

    async def receive_response(self, response: Response) -> None:
        await super().receive_response(response)
        if isinstance(response, KeysQueryResponse) and self.keys_observer is not None:
            self.keys_observer(response)


def build_client(config: Config) -> BotClient:
    """An ``AsyncClient`` whose retry behaviour is left to :mod:`bot.matrix.homeserver_calls`.

    ``max_timeouts=1`` keeps one immediate retry of a dropped keep-alive connection;
    ``max_limit_exceeded=0`` hands every 429 back to us instead of sleeping inside nio.
    With ``matrix.encryption`` the crypto store's folder and pickle key are filled in by
    :meth:`bot.matrix.crypto.Crypto.prepare` before login; the sync token stays ours.
    """
    m = config.matrix
    client_config = AsyncClientConfig(
        max_limit_exceeded=0,
        max_timeouts=1,
        max_timeout_retry_wait_time=m.max_retry_wait_s,
        request_timeout=m.request_timeout_s,
        encryption_enabled=m.encryption,
        store=CryptoStore,
        store_sync_tokens=False,
    )
    return BotClient(
        m.homeserver, m.user_id, device_id=m.device_id or "", store_path="", config=client_config
    )


async def authenticate(client: AsyncClient, config: Config, db: Database) -> None:
    """Make ``client`` logged in as ``config.matrix.user_id`` (see the module docstring)."""
    m = config.matrix
    stored = await state.load(db, state.ACCESS_TOKEN, state.DEVICE_ID, state.USER_ID)
    candidates: list[tuple[str, str, str]] = []
    if stored.get(state.ACCESS_TOKEN) and stored.get(state.USER_ID) == m.user_id:
        candidates.append(("stored", stored[state.ACCESS_TOKEN], stored.get(state.DEVICE_ID, "")))
    if m.access_token:
        candidates.append(("configured", m.access_token, m.device_id or ""))

    for source, token, device_id in candidates:
        client.user_id = m.user_id
        client.access_token = token
        client.device_id = device_id
        who = await _whoami(client)
        if isinstance(who, WhoamiResponse):
            if who.user_id != m.user_id:
                raise InvalidCredentials(
                    f"the {source} access token belongs to {who.user_id}, but matrix.user_id is {m.user_id}"
                )
            client.device_id = who.device_id or device_id
            log.info(
                "logged in as %s with the %s access token (device %s)", m.user_id, source, client.device_id
            )
            return
        log.warning("the %s access token was rejected: %s", source, describe(who))
        if source == "stored":
            await state.remove(db, state.ACCESS_TOKEN, state.DEVICE_ID, state.USER_ID)

    if not m.password:
        if candidates:
            raise InvalidCredentials(
                f"the homeserver rejected the access token for {m.user_id} and no password is configured"
            )
        raise InvalidCredentials(f"no access token or password configured for {m.user_id}")

    client.access_token = ""
    client.device_id = stored.get(state.DEVICE_ID) or m.device_id or ""
    resp = await request(
        lambda: client.login(password=m.password, device_name=m.device_name),
        "password login",
        ok_errcodes=("M_FORBIDDEN", "M_USER_DEACTIVATED", "M_INVALID_USERNAME"),
    )
    if not isinstance(resp, LoginResponse):
        raise InvalidCredentials(f"password login for {m.user_id} was rejected: {describe(resp)}")
    if resp.user_id != m.user_id:
        raise InvalidCredentials(f"password login returned {resp.user_id}, not {m.user_id}")
    await state.save(
        db,
        {state.ACCESS_TOKEN: resp.access_token, state.DEVICE_ID: resp.device_id, state.USER_ID: resp.user_id},
    )
    log.info("logged in as %s with the password (device %s); token stored", m.user_id, resp.device_id)


async def _whoami(client: AsyncClient) -> WhoamiResponse | ErrorResponse:
    """``whoami``, retried while the homeserver is unreachable; credential errors returned."""
    try:
        return await request(
            client.whoami, "whoami", ok_errcodes=("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"), attempts=6
        )
    except InvalidCredentials:
        # A 401 without one of the codes above (a soft logout): report it as rejected.
        return ErrorResponse("access token rejected", "M_UNKNOWN_TOKEN")


async def api_call(
    client: AsyncClient,
    method: str,
    parts: list[str],
    body: dict[str, Any] | None = None,
    query: Mapping[str, str] | None = None,
) -> tuple[int, Any]:
    """A client-server API call made without nio; returns (HTTP status, the JSON body as
    sent: an object, or a list as ``/state`` answers; None when it is not JSON).

    Transport errors propagate (the callers retry); the token is sent as a header and
    never appears in a URL or a log line.
    """
    path = CLIENT_API + "/" + "/".join(quote(part, safe="") for part in parts)
    if query:
        path += "?" + urlencode(dict(query))
    headers = {"Authorization": f"Bearer {client.access_token}", "Content-Type": "application/json"}
    data = json.dumps(body) if body is not None else None
    resp = await client.send(method, path, data, headers)
    try:
        payload = await resp.json(content_type=None)
    except ValueError:
        payload = None
    finally:
        resp.release()
    return resp.status, payload


async def api_json(
    client: AsyncClient,
    method: str,
    parts: list[str],
    body: dict[str, Any] | None = None,
    query: Mapping[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """:func:`api_call` for an endpoint nio has no method for that answers an object."""
    status, payload = await api_call(client, method, parts, body, query)
    return status, payload if isinstance(payload, dict) else {}


async def api_call_checked(
    client: AsyncClient,
    method: str,
    parts: list[str],
    what: str,
    body: dict[str, Any] | None = None,
    ok_statuses: tuple[int, ...] = (200,),
    query: Mapping[str, str] | None = None,
) -> Any:
    """:func:`api_call` with a few retries on transient failures; raises :class:`TransportError`."""
    last = "no attempt"
    backoff = Backoff()
    for attempt in range(3):
        if attempt:
            await asyncio.sleep(backoff.next())
        try:
            status, payload = await api_call(client, method, parts, body, query)
        except TRANSIENT_EXCEPTIONS as exc:
            last = type(exc).__name__
            continue
        if status in ok_statuses:
            return payload
        if status == 401:
            raise InvalidCredentials(f"the homeserver rejected the bot's access token ({what})")
        errcode = payload.get("errcode", "no errcode") if isinstance(payload, dict) else "no errcode"
        last = f"{errcode} (HTTP {status})"
        if status < 500 and status != 429:
            break
    raise TransportError(f"{what} failed: {last}")


async def api_json_checked(
    client: AsyncClient,
    method: str,
    parts: list[str],
    what: str,
    body: dict[str, Any] | None = None,
    ok_statuses: tuple[int, ...] = (200,),
    query: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """:func:`api_call_checked` for an endpoint that answers an object."""
    payload = await api_call_checked(client, method, parts, what, body, ok_statuses, query)
    return payload if isinstance(payload, dict) else {}
