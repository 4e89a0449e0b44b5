"""A third-party client nobody here wrote talks to the bot in an encrypted DM.

matrix-commander (PyPI) is installed once into its own virtual environment under
``.cache/`` (ignored by git; reruns reuse it). It logs in, creates an encrypted
direct chat with the bot, sends ``!help`` and reads the answer from its own sync with
its own crypto store. The test is skipped only when PyPI cannot be reached for the
first install. matrix-commander still reads a server name out of room ids, so this
module runs its own homeserver with room version 11 (see MATRIX-NOTES).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from bot.config import parse_config
from bot.devtools.synapse import LocalSynapse, SynapseOptions

from .conftest import Accounts, BotRunner, bot_config_dict

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
VERSION = "8.0.6"
CACHE = REPO / ".cache" / f"matrix-commander-{VERSION}"
EXECUTABLE = CACHE / "bin" / "matrix-commander"
COMPLETE = CACHE / ".installed"


def _pypi_reachable() -> bool:
    try:
        with urllib.request.urlopen("https://pypi.org/simple/matrix-commander/", timeout=10):
            return True
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def matrix_commander() -> Path:
    """The matrix-commander executable, installed on first use into ``.cache/``."""
    if COMPLETE.exists() and EXECUTABLE.exists():
        return EXECUTABLE
    if not _pypi_reachable():
        pytest.skip("PyPI is unreachable, so matrix-commander cannot be installed")
    uv = Path(sys.executable).with_name("uv")
    shutil.rmtree(CACHE, ignore_errors=True)  # a half-finished earlier install
    # A venv's scripts name their interpreter by absolute path, so it is built in place.
    subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(CACHE)], check=True, timeout=120)
    subprocess.run(
        [str(uv), "pip", "install", "-q", "--python", str(CACHE / "bin" / "python"), f"matrix-commander=={VERSION}"],
        check=True,
        timeout=600,
    )
    assert EXECUTABLE.exists()
    COMPLETE.touch()
    return EXECUTABLE


@pytest.fixture(scope="module")
def v11_synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSynapse]:
    hs = LocalSynapse(SynapseOptions(data_dir=tmp_path_factory.mktemp("synapse-v11"), default_room_version="11"))
    asyncio.run(hs.start())
    try:
        yield hs
    finally:
        asyncio.run(hs.stop())


class Commander:
    """Runs matrix-commander with one credentials file and one store, as a member would."""

    def __init__(self, executable: Path, work: Path) -> None:
        self.base = [str(executable), "-c", str(work / "credentials.json"), "-s", str(work / "store")]
        self.credentials = work / "credentials.json"

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KENNISBRUG_")}
        done = subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=timeout, env=env)
        assert done.returncode == 0, f"matrix-commander {args[0]} failed: {done.stderr[-2000:]}"
        return done

    def http(self, homeserver: str, path: str) -> dict[str, Any]:
        token = json.loads(self.credentials.read_text())["access_token"]
        request = urllib.request.Request(homeserver + path, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            data = json.loads(response.read())
        assert isinstance(data, dict)
        return data


async def test_matrix_commander_gets_an_encrypted_answer(
    matrix_commander: Path, v11_synapse: LocalSynapse, tmp_path: Path
) -> None:
    hs = v11_synapse
    accounts = Accounts()
    for name in ("kennisbrug", "alice"):
        accounts.passwords[name] = "pw" + secrets.token_hex(8)  # never starting with "-" (an option to the CLI)
        await hs.register_user(name, accounts.passwords[name])
    tag = f"mc{secrets.token_hex(2)}"
    bot_user = accounts.user_id("kennisbrug")
    runner = BotRunner(parse_config(bot_config_dict(hs, accounts, tmp_path, tag), tmp_path / "bot.yaml", env={}))
    await runner.start()
    try:
        mc = Commander(matrix_commander, tmp_path)
        started = time.monotonic()
        await asyncio.to_thread(
            mc.run,
            "--login", "password",
            "--homeserver", hs.base_url,
            "--user-login", accounts.user_id("alice"),
            "--password", accounts.passwords["alice"],
            "--device", "matrix-commander",
            "--room-default", f"!none:{hs.options.server_name}",
        )  # fmt: skip
        created = await asyncio.to_thread(mc.run, "--room-dm-create", bot_user)
        room_id = created.stdout.split()[0]
        assert room_id.startswith("!") and "True" in created.stdout, created.stdout  # "True": encrypted

        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/joined_members"
        deadline = time.monotonic() + 20
        while bot_user not in (await asyncio.to_thread(mc.http, hs.base_url, path)).get("joined", {}):
            assert time.monotonic() < deadline, "the bot did not join the DM"
            await asyncio.sleep(0.2)

        sent = await asyncio.to_thread(mc.run, "-r", room_id, "-m", "!help")
        command = re.search(r'as event "(\$[^"]+)"', sent.stdout + sent.stderr)
        assert command, sent.stderr

        answer: dict[str, Any] | None = None
        for _attempt in range(10):
            listened = await asyncio.to_thread(mc.run, "--listen", "once", "-o", "JSON")
            for line in listened.stdout.splitlines():
                if not line.startswith("{"):
                    continue
                source = json.loads(line).get("source", {})
                content = source.get("content", {})
                if (
                    source.get("sender") == bot_user
                    and content.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == command[1]
                ):
                    answer = source
            if answer is not None:
                break
        elapsed = time.monotonic() - started
    finally:
        await runner.stop()

    assert answer is not None, "matrix-commander saw no answer from the bot"
    assert answer["type"] == "m.room.message" and answer["content"]["msgtype"] == "m.notice"
    assert "!taal" in answer["content"]["body"]  # the help overview, decrypted by matrix-commander
    # On the homeserver both the command and the answer are ciphertext.
    for event_id in (command[1], answer["event_id"]):
        raw = await asyncio.to_thread(
            mc.http, hs.base_url, f"/_matrix/client/v3/rooms/{quote(room_id)}/event/{quote(event_id)}"
        )
        assert raw["type"] == "m.room.encrypted", raw["type"]
    print(f"[e2e matrix-commander] answered and decrypted, {elapsed:.1f}s for login, DM, send and read")
