"""Fixtures for the reliability tests.

* ``faulty_synapse``: a homeserver of the test module's own (module scope), which tests
  may stop, kill, pause and restart. The shared session homeserver is never broken.
* ``bot_processes``: makes :class:`BotProcess` objects in the test's directory and
  kills whatever still runs at the end of the test.
* ``members_on``: logged-in members on any homeserver (closed at the end).
* :func:`reliability_config`: the shared bot config plus the test features
  (``plugins:``) and their sections.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.devtools.synapse import LocalSynapse, SynapseOptions, free_port
from tests.integration.conftest import Accounts, Member, bot_config_dict
from tests.integration.reliability.faults import BotProcess, SynapseFaults

CRASH_FEATURE = "tests.integration.reliability.crash_feature"
REMINDER_FEATURE = "tests.integration.reliability.reminder_feature"
USERS = ("kennisbrug", "alice", "bob", "carol")


@dataclass
class Homeserver:
    """A homeserver with its registered accounts and a fault injector."""

    hs: LocalSynapse
    accounts: Accounts
    faults: SynapseFaults

    @property
    def bot_user(self) -> str:
        return self.accounts.user_id("kennisbrug")


async def register_accounts(hs: LocalSynapse) -> Accounts:
    accounts = Accounts()
    for name in USERS:
        password = secrets.token_urlsafe(12)
        await hs.register_user(name, password, admin=False)
        accounts.passwords[name] = password
    return accounts


def own_homeserver(tmp_path_factory: pytest.TempPathFactory, **options: Any) -> Iterator[Homeserver]:
    """Start a homeserver on a fixed free port (so a restart keeps its URL) and yield it."""
    data_dir = tmp_path_factory.mktemp("faulty-synapse")
    hs = LocalSynapse(SynapseOptions(data_dir=data_dir, port=free_port(), **options))
    asyncio.run(hs.start())
    try:
        accounts = asyncio.run(register_accounts(hs))
        yield Homeserver(hs, accounts, SynapseFaults(hs))
    finally:
        asyncio.run(hs.stop())  # also wakes a paused one first


@pytest.fixture(scope="module")
def faulty_synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    yield from own_homeserver(tmp_path_factory)


@pytest.fixture
async def homeserver(faulty_synapse: Homeserver) -> Homeserver:
    """The module's own homeserver, running and awake at the start of every test."""
    await faulty_synapse.faults.ensure_up()
    return faulty_synapse


@pytest.fixture
def shared_homeserver(synapse: LocalSynapse, accounts: Accounts) -> Homeserver:
    """The session homeserver, for tests that break only the bot (never stop this one)."""
    return Homeserver(synapse, accounts, SynapseFaults(synapse))


@pytest.fixture
def bot_processes(tmp_path: Path) -> Iterator[Callable[..., BotProcess]]:
    made: list[BotProcess] = []

    def make(config: dict[str, Any], name: str = "bot") -> BotProcess:
        bot = BotProcess(config, tmp_path, name)
        made.append(bot)
        return bot

    yield make
    for bot in made:
        bot.kill_now()


@pytest.fixture
async def members_on() -> AsyncIterator[Callable[[Homeserver, str], Awaitable[Member]]]:
    created: list[Member] = []

    async def make(server: Homeserver, name: str) -> Member:
        member = Member(server.hs, server.accounts.user_id(name), server.accounts.passwords[name])
        # nio's default waits up to 60 s between retries of a dropped connection; a member
        # reconnecting after an outage would then measure nio, not the bot.
        member.client.config = dataclasses.replace(member.client.config, max_timeout_retry_wait_time=1.0)
        await member.login()
        created.append(member)
        return member

    yield make
    for member in created:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(member.close(), 5)


def reliability_config(
    server: Homeserver,
    tmp_path: Path,
    tag: str,
    *,
    level: str = "INFO",
    plugins: tuple[str, ...] = (CRASH_FEATURE, REMINDER_FEATURE),
    **sections: Any,
) -> dict[str, Any]:
    """The integration tests' bot config for ``server``, with the test features loaded."""
    config = bot_config_dict(server.hs, server.accounts, tmp_path, tag)
    config["logging"] = {"level": level}
    config["plugins"] = list(plugins)
    config.setdefault("crash_test", {"marker": str(tmp_path / f"crash-{tag}.marker"), "mode": "before"})
    config.update(sections)
    return config


@dataclass
class Rig:
    """What a reliability test starts with: bot processes, members, and a config that is
    this test's own (its rooms carry the test's tag)."""

    bots: Callable[..., BotProcess]
    member: Callable[[Homeserver, str], Awaitable[Member]]
    tmp_path: Path
    tag: str

    def config(self, server: Homeserver, **options: Any) -> dict[str, Any]:
        return reliability_config(server, self.tmp_path, self.tag, **options)


@pytest.fixture
def rig(
    bot_processes: Callable[..., BotProcess],
    members_on: Callable[[Homeserver, str], Awaitable[Member]],
    tmp_path: Path,
    tag: str,
) -> Rig:
    return Rig(bot_processes, members_on, tmp_path, tag)
