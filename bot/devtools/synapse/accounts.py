"""Accounts on the local homeserver: shared-secret registration and password login."""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

import aiohttp

from bot.devtools.synapse.options import SynapseHarnessError

logger = logging.getLogger(__name__)

HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30)


class Accounts:
    """Registration through ``/_synapse/admin/v1/register`` and ``/login`` of one server."""

    def __init__(self, base_url: str, server_name: str, secret: str) -> None:
        self._base_url = base_url
        self._server_name = server_name
        self._secret = secret

    async def register(
        self, localpart: str, password: str, admin: bool, session: aiohttp.ClientSession
    ) -> dict[str, Any]:
        """A new account's answer (``access_token``, ``device_id``), or ``user_id`` alone
        for one that exists already."""
        user_id = f"@{localpart}:{self._server_name}"
        secret = self._secret
        url = f"{self._base_url}/_synapse/admin/v1/register"
        async with session.get(url) as resp:
            nonce_body = await json_or_raise(resp, "fetch registration nonce")
        nonce = str(nonce_body["nonce"])
        mac = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha1)
        mac.update(nonce.encode("utf-8"))
        mac.update(b"\x00")
        mac.update(localpart.encode("utf-8"))
        mac.update(b"\x00")
        mac.update(password.encode("utf-8"))
        mac.update(b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        payload = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        async with session.post(url, json=payload) as resp:
            body = await read_json(resp)
            if resp.status == 200:
                logger.debug("registered %s (admin=%s)", body.get("user_id", user_id), admin)
                return body
            if body.get("errcode") == "M_USER_IN_USE":
                logger.debug("%s already exists; reusing it", user_id)
                return {"user_id": user_id}
            raise SynapseHarnessError(
                f"registering {user_id} failed: HTTP {resp.status} {body}",
                status=resp.status,
                body=body,
            )

    async def login(self, user_id: str, password: str, device_id: str | None = None) -> dict[str, Any]:
        """Password login via ``/_matrix/client/v3/login``; return the response JSON.

        Handy when a test needs a raw ``access_token``/``device_id`` without a client
        library. A non-200 answer raises :class:`SynapseHarnessError` with the body.
        """
        payload: dict[str, Any] = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user_id},
            "password": password,
        }
        if device_id is not None:
            payload["device_id"] = device_id
        url = f"{self._base_url}/_matrix/client/v3/login"
        async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as session:
            async with session.post(url, json=payload) as resp:
                return await json_or_raise(resp, f"login as {user_id}")

    # ------------------------------------------------------------------ internals


async def read_json(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        body = await resp.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return {"raw": await resp.text()}
    return body if isinstance(body, dict) else {"value": body}


async def json_or_raise(resp: aiohttp.ClientResponse, what: str) -> dict[str, Any]:
    body = await read_json(resp)
    if resp.status != 200:
        raise SynapseHarnessError(f"{what} failed: HTTP {resp.status} {body}", status=resp.status, body=body)
    return body
