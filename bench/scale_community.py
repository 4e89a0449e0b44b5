"""A generated community for bench/scale.py: members with real devices, DMs, rooms, rows.

Every member is a Synapse account made through the shared-secret admin registration
(which hands back a token, so no login per member), with a device whose identity and
one-time keys are uploaded (vodozemac, as nio itself uses): the bot finds keys, claims
one and really encrypts its room key to every member. Each member joins the bot's
community rooms (opened to joining for the benchmark, instead of an invite per
member) and has an encrypted direct chat with the bot, created as the bot would
(``is_direct``, encryption in the initial state) but side by side with bounded
concurrency; the bot's database gets the DM rows, profiles and digest subscriptions,
and ``m.direct`` is written once per growth step.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import aiohttp
import vodozemac
from sqlalchemy import insert

from bot.devtools.synapse import LocalSynapse
from bot.storage import Database
from bot.storage.models import DirectRoom, Member
from commands.digest.models import DigestSubscription
from commands.introductions.models import Profile
from commands.questions.models import Question

API = "/_matrix/client/v3"
PREFIX = "lid"
PROFESSIONS = [
    "bedrijfsarts",
    "verzekeringsarts",
    "arbeidsdeskundige",
    "re-integratieprofessional",
    "jobcoach",
    "hr-professional",
    "casemanager",
    "ervaringsdeskundige",
]
ENCRYPTION = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Account:
    user_id: str
    token: str
    device_id: str = ""


class Homeserver:
    """Bare client-server calls with bounded concurrency (one shared connection pool)."""

    def __init__(self, synapse: LocalSynapse, width: int) -> None:
        self.synapse = synapse
        self.gate = asyncio.Semaphore(width)
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))

    async def close(self) -> None:
        await self.http.close()

    async def call(self, method: str, path: str, token: str, body: Any = None) -> dict[str, Any]:
        url = f"{self.synapse.base_url}{API}{path}"
        for attempt in range(5):
            async with (
                self.gate,
                self.http.request(
                    method, url, json=body, headers={"Authorization": f"Bearer {token}"}
                ) as resp,
            ):
                data = await resp.json(content_type=None)
                if resp.status == 200:
                    return data if isinstance(data, dict) else {}
                if resp.status != 429 and resp.status < 500:
                    raise RuntimeError(f"{method} {path}: HTTP {resp.status} {data}")
            await asyncio.sleep(0.2 * (attempt + 1))  # the homeserver is busy: try again
        raise RuntimeError(f"{method} {path} kept failing")

    async def each(self, items: Sequence[Any], work: Callable[[Any], Awaitable[Any]]) -> list[Any]:
        """``work`` on every item, as many at once as the gate lets through."""
        return list(await asyncio.gather(*(work(item) for item in items)))


def device_keys(account: Account, olm: vodozemac.Account) -> dict[str, Any]:
    """The ``/keys/upload`` body: signed device keys, signed one-time keys, a fallback key."""

    def signed(value: dict[str, Any]) -> dict[str, Any]:
        signature = olm.sign(canonical(value).encode()).to_base64()
        return {**value, "signatures": {account.user_id: {f"ed25519:{account.device_id}": signature}}}

    device = signed(
        {
            "user_id": account.user_id,
            "device_id": account.device_id,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {
                f"curve25519:{account.device_id}": olm.curve25519_key.to_base64(),
                f"ed25519:{account.device_id}": olm.ed25519_key.to_base64(),
            },
        }
    )
    olm.generate_one_time_keys(3)
    one_time = {
        f"signed_curve25519:{key_id}": signed({"key": key.to_base64()})
        for key_id, key in olm.one_time_keys.items()
    }
    olm.generate_fallback_key()
    fallback = {
        f"signed_curve25519:{key_id}": signed({"key": key.to_base64(), "fallback": True})
        for key_id, key in olm.fallback_key.items()
    }
    return {"device_keys": device, "one_time_keys": one_time, "fallback_keys": fallback}


async def add_members(hs: Homeserver, start: int, stop: int, password: str) -> list[Account]:
    async def one(index: int) -> Account:
        async with hs.gate:
            body = await hs.synapse.register_account(f"{PREFIX}{index:05d}", password, session=hs.http)
        account = Account(str(body["user_id"]), str(body["access_token"]), str(body["device_id"]))
        await hs.call("POST", "/keys/upload", account.token, device_keys(account, vodozemac.Account()))
        return account

    return await hs.each(range(start, stop), one)


async def open_rooms(hs: Homeserver, bot: Account, rooms: Sequence[str]) -> None:
    """Let members join the community rooms without an invite each (the benchmark's
    shortcut; the bot's own rooms are invite-only by default)."""
    for room in rooms:
        path = f"/rooms/{quote(room)}/state/m.room.join_rules/"
        await hs.call("PUT", path, bot.token, {"join_rule": "public"})


async def join_rooms(hs: Homeserver, members: Sequence[Account], rooms: Sequence[str]) -> None:
    # Room by room: joins to one room queue on that room's lock in Synapse anyway.
    for room in rooms:
        await hs.each(members, lambda m, room=room: hs.call("POST", f"/join/{quote(room)}", m.token, {}))


async def open_dms(hs: Homeserver, bot: Account, members: Sequence[Account]) -> dict[str, str]:
    """One encrypted direct chat per member, created by the bot and joined by the member."""

    async def one(member: Account) -> tuple[str, str]:
        created = await hs.call(
            "POST",
            "/createRoom",
            bot.token,
            {
                "preset": "private_chat",
                "is_direct": True,
                "invite": [member.user_id],
                "initial_state": [ENCRYPTION],
            },
        )
        room = str(created["room_id"])
        await hs.call("POST", f"/join/{quote(room)}", member.token, {})
        return member.user_id, room

    return dict(await hs.each(members, one))


async def write_m_direct(hs: Homeserver, bot: Account, dms: dict[str, str]) -> None:
    path = f"/user/{quote(bot.user_id)}/account_data/m.direct"
    await hs.call("PUT", path, bot.token, {user: [room] for user, room in dms.items()})


async def record(db: Database, dms: dict[str, str], new: Sequence[Account], seed: int) -> None:
    """The bot's side: DM rows for everyone new, a profile (some of them newcomers of the
    week, so the digest has something to say), a weekly digest subscription, a member row."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=90)
    users = [member.user_id for member in new]
    async with db.transaction() as session:
        await session.execute(
            insert(DirectRoom), [{"user_id": u, "room_id": dms[u], "created_at": long_ago} for u in users]
        )
        await session.execute(
            insert(Member),
            [{"user_id": u, "language": rng.choice(["nl", "en"]), "first_seen": long_ago} for u in users],
        )
        profiles = []
        for index, user in enumerate(users):
            created = now - timedelta(days=2) if index % 25 == 0 else long_ago
            profiles.append(
                {
                    "user_id": user,
                    "profession": PROFESSIONS[index % len(PROFESSIONS)],
                    "work_days": [],
                    "meet_days": [],
                    "goals": [],
                    "themes": [],
                    "meet_professions": [rng.choice(PROFESSIONS)],
                    "listed": True,
                    "spotlight": False,
                    "consent_at": created,
                    "created_at": created,
                    "updated_at": created,
                }
            )
        await session.execute(insert(Profile), profiles)
        await session.execute(
            insert(DigestSubscription),
            [{"user_id": u, "enabled": True, "rhythm": "weekly", "updated_at": long_ago} for u in users],
        )
        # Two open questions (from different askers) to every profession, so every
        # subscriber's digest has a section: a member is not shown their own question.
        await session.execute(
            insert(Question),
            [
                {
                    "asker_id": rng.choice(users),
                    "profession": profession,
                    "text": f"Hoe wegen jullie de belastbaarheid bij wisselende klachten? ({seed})",
                    "status": "open",
                    "source_event": f"$bench-src-{seed}-{i}",
                    "room_id": "!bench-questions",
                    "event_id": f"$bench-q-{seed}-{i}-{secrets.token_hex(3)}",
                    "answers": 0,
                    "rounds": 1,
                    "created_at": now - timedelta(days=1),
                }
                for i, profession in enumerate(PROFESSIONS * 2)
            ],
        )
