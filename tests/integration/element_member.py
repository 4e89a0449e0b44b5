"""A member with Element's crypto stack, for the tests: ``element/member.mjs`` in Node.

The Node script is matrix-js-sdk with its Rust crypto, the code Element runs. This
module installs its npm packages from the committed lockfile when they are missing
(``npm ci``, as ``make element-deps`` does), starts it as a subprocess, sends it
commands on stdin and reads the JSON lines it writes. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

FOLDER = Path(__file__).parent / "element"
SCRIPT = FOLDER / "member.mjs"
NPM_TIMEOUT_S = 300.0

Record = dict[str, Any]
T = TypeVar("T")


def element_stack_missing() -> str | None:
    """Why the Element stack cannot run here, or None once its packages are installed.

    Installs them with ``npm ci`` from the lockfile when ``node_modules`` is missing or
    older than the lockfile; a machine without Node, npm or the registry gets a reason.
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "node/npm not installed: the Element (matrix-js-sdk) client tests need Node 20 or newer"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    if int(version.lstrip("v").split(".")[0] or 0) < 20:
        return f"node {version} is too old: the Element (matrix-js-sdk) client tests need Node 20 or newer"
    installed = FOLDER / "node_modules" / ".package-lock.json"
    lock = FOLDER / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return None
    try:
        done = subprocess.run(
            [
                npm,
                "ci",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--fetch-retries=1",
                "--fetch-timeout=30000",
            ],
            cwd=FOLDER,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return f"npm ci in {FOLDER} took more than {NPM_TIMEOUT_S:.0f}s: the Element client tests skip"
    if done.returncode != 0:
        # npm's first error lines say what went wrong (a code, the address); the rest is advice.
        said = [
            line
            for line in (done.stderr or done.stdout).splitlines()
            if line.removeprefix("npm error").strip()
        ][:2]
        return f"npm ci in {FOLDER} failed ({' / '.join(said)}): the Element client tests skip"
    return None


class ElementMember:
    """One Element-stack device of a member: a Node subprocess driven by lines."""

    def __init__(self, homeserver: str, user_id: str, password: str, bot: str, log_path: Path) -> None:
        # --name=value: a generated password may start with "-", which Node's parseArgs would
        # take for an option.
        self.args = [f"--homeserver={homeserver}", f"--user={user_id}", f"--password={password}", f"--bot={bot}"]
        self.log_path = log_path
        self.records: list[Record] = []
        self.messages: dict[str, Record] = {}  # the bot's messages, newest state per event id
        self.room_id: str | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.start_s = 0.0

    async def start(self, strict: bool = False, timeout: float = 60) -> Record:
        """Start the member; it logs in and sets up cross-signing. Returns its "ready" line."""
        node = shutil.which("node")
        assert node is not None
        args = [node, str(SCRIPT), "member", *self.args, *(["--strict"] if strict else [])]
        log = self.log_path.open("ab")
        self._proc = await asyncio.create_subprocess_exec(
            *args,
            cwd=FOLDER,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        log.close()  # the child holds its own descriptor
        self._reader = asyncio.create_task(self._read())
        started = time.monotonic()
        ready = await self.expect(lambda r: r["event"] == "ready", timeout)
        self.start_s = time.monotonic() - started  # login, Rust crypto, cross-signing
        return ready

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for raw in self._proc.stdout:
            try:
                record = json.loads(raw)
            except ValueError:
                continue  # not ours: the SDK's logs go to stderr, but be safe
            self.records.append(record)
            if record.get("event") == "message":
                self.messages[record["event_id"]] = record
            self._changed.set()
        self._changed.set()  # the process ended: wake waiters so they fail fast

    async def until(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        """Wait until ``check()`` gives a value; fails on the member's error or exit,
        or after ``timeout`` seconds, with the tail of its log."""
        deadline = time.monotonic() + timeout
        while True:
            errors = [r["message"] for r in self.records if r.get("event") == "error"]
            if errors:
                raise AssertionError(f"the Element member failed: {errors}\n{self.log_tail()}")
            found = check()
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self._reader is not None and self._reader.done()):
                raise AssertionError(
                    f"waited {timeout}s for {what}; the bot's messages: {self.from_bot()}\n{self.log_tail()}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def expect(self, predicate: Callable[[Record], bool], timeout: float = 20, skip: int = 0) -> Record:
        """The first line after the first ``skip`` that matches ``predicate``."""

        def check() -> Record | None:
            return next((r for r in self.records[skip:] if predicate(r)), None)

        return await self.until(check, timeout, "a line of the Element member")

    async def command(self, line: str) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(f"{line}\n".encode())
        await self._proc.stdin.drain()

    async def open_dm(self, timeout: float = 30) -> str:
        await self.command("dm")
        record = await self.expect(lambda r: r["event"] == "dm", timeout)
        self.room_id = str(record["room_id"])
        return self.room_id

    async def send(self, body: str, timeout: float = 20) -> str:
        """Send ``body`` in the DM; returns its event id once the homeserver has it."""
        skip = len(self.records)
        await self.command(f"send {body}")
        record = await self.expect(lambda r: r["event"] == "sent", timeout, skip=skip)
        return str(record["event_id"])

    async def verify_bot(self, timeout: float = 70) -> Record:
        """Verify the bot in the DM with emoji (SAS), confirming them; the "verified" line."""
        skip = len(self.records)
        await self.command("verify")
        return await self.expect(lambda r: r["event"] == "verified", timeout, skip=skip)

    async def reply_to(self, event_id: str, timeout: float = 20, readable: bool = True) -> Record:
        """The bot's answer to ``event_id`` as the member sees it; with ``readable``, once
        it has decrypted (a key may come a moment after the message)."""

        def check() -> Record | None:
            for record in self.messages.values():
                if record["in_reply_to"] == event_id and (record["decrypted"] is not False or not readable):
                    return record
            return None

        return await self.until(check, timeout, f"the bot's reply to {event_id}")

    async def first_from_bot(self, timeout: float = 20) -> Record:
        """The bot's first message in the DM, readable or not (an unreadable one shows no
        reply relation: that is inside the ciphertext)."""
        return await self.until(
            lambda: next(iter(self.messages.values()), None), timeout, "a message of the bot"
        )

    async def ask(self, body: str, timeout: float = 20) -> Record:
        return await self.reply_to(await self.send(body), timeout)

    def from_bot(self) -> list[Record]:
        return list(self.messages.values())

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def close(self) -> None:
        if self._proc is None:
            return
        if self._proc.returncode is None:
            with contextlib.suppress(Exception):
                await self.command("quit")
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        if self._reader is not None:
            await self._reader
        self._proc = None


async def new_identity(
    homeserver: str, user_id: str, password: str, log_path: Path, timeout: float = 60
) -> None:
    """Reset ``user_id``'s cross-signing keys from an Element-stack login, as "Reset
    identity" in Element does. The login is logged out; the new keys stay."""
    node = shutil.which("node")
    assert node is not None
    args = ["new-identity", f"--homeserver={homeserver}", f"--user={user_id}", f"--password={password}"]
    with log_path.open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            node, str(SCRIPT), *args, cwd=FOLDER, stdout=asyncio.subprocess.PIPE, stderr=log
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise AssertionError(f"resetting {user_id}'s identity took more than {timeout}s") from None
    records = [json.loads(line) for line in out.splitlines() if line.startswith(b"{")]
    assert proc.returncode == 0 and {"event": "identity"} in records, (proc.returncode, records)


async def published_keys(homeserver: str, access_token: str, user_id: str) -> dict[str, Any]:
    """What the homeserver tells members' clients about ``user_id``'s keys (``/keys/query``)."""
    url = f"{homeserver}/_matrix/client/v3/keys/query"
    headers = {"Authorization": f"Bearer {access_token}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        async with session.post(url, json={"device_keys": {user_id: []}}, headers=headers) as resp:
            body: dict[str, Any] = await resp.json()
    return body


def master_key(keys: dict[str, Any], user_id: str) -> str | None:
    found = list(keys.get("master_keys", {}).get(user_id, {}).get("keys", {}).values())
    return str(found[0]) if found else None


def device_is_cross_signed(keys: dict[str, Any], user_id: str, device_id: str) -> bool:
    """Whether ``device_id`` carries a signature by the user's current self-signing key:
    what Element checks before it trusts the device."""
    self_signing = keys.get("self_signing_keys", {}).get(user_id, {}).get("keys", {})
    device = keys.get("device_keys", {}).get(user_id, {}).get(device_id, {})
    signatures = device.get("signatures", {}).get(user_id, {})
    return any(key_id in signatures for key_id in self_signing)
