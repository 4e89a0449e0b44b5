"""Reply latency of the bot in an encrypted DM against a plain DM, in the same run.

Starts a real Synapse on a free loopback port and the bot (``run_bot.py run``) as a
separate process. One member, a matrix-nio client with encryption on (its own store),
opens two direct chats with the bot: one plain, one encrypted. It sends ``!help`` N
times in each, interleaved in blocks so machine noise hits both alike, timing send →
reply seen (and, in the encrypted DM, decrypted) in the member's own sync. The
encrypted round trip includes what encryption costs on both ends: the member encrypts
its command, the bot decrypts it and encrypts its answer, the member decrypts that.
Prints p50, p95 and the ratio encrypted/plain. The baseline for the bot's own share is
an encrypting echo bot (bench/echo_bot_e2e.py: bare matrix-nio with its crypto store) in
a third, encrypted DM, measured in the same blocks: the ratio bot/echo with both
encrypting (goal: p50 at most 1.05, p95 at most 1.10).

    .venv/bin/python bench/encrypted_latency.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from nio import AsyncClient, AsyncClientConfig, MegolmEvent, RoomMessageNotice

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.devtools.synapse import LocalSynapse, SynapseOptions  # noqa: E402

BOT = "@kennisbrug:localhost"
ECHO = "@echo:localhost"
ENCRYPTION = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Member:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.undecryptable = 0
        self.last_reply: dict[str, object] = {}

    async def keys(self) -> None:
        c = self.client
        if c.should_upload_keys:
            await c.keys_upload()
        if c.should_query_keys:
            await c.keys_query()
        if c.should_claim_keys:
            await c.keys_claim(c.get_users_for_key_claiming())
        if c.outgoing_to_device_messages:
            await c.send_to_device_messages()

    async def round_trip(self, room_id: str, timeout: float = 30, sender: str = BOT) -> float:
        start = time.perf_counter()
        await self.client.room_send(
            room_id, "m.room.message", {"msgtype": "m.text", "body": "!help"}, ignore_unverified_devices=True
        )
        deadline = start + timeout
        while time.perf_counter() < deadline:
            response = await self.client.sync(timeout=30_000, since=self.client.next_batch)
            rooms = getattr(response, "rooms", None)
            replied = False
            if rooms is not None and room_id in rooms.join:
                for event in rooms.join[room_id].timeline.events:
                    if isinstance(event, MegolmEvent) and event.sender == sender:
                        self.undecryptable += 1
                    if isinstance(event, RoomMessageNotice) and event.sender == sender:
                        replied = True
                        self.last_reply = dict(event.source.get("content", {}))
            if replied:
                elapsed = (time.perf_counter() - start) * 1000
                await self.keys()
                return elapsed
            await self.keys()
        raise TimeoutError(f"no reply in {room_id} within {timeout}s")

    async def open_dm(self, encrypted: bool, with_user: str = BOT) -> str:
        created = await self.client.room_create(
            is_direct=True, invite=[with_user], initial_state=[ENCRYPTION] if encrypted else []
        )
        room_id = created.room_id
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            await self.client.sync(timeout=1000, since=self.client.next_batch)
            await self.keys()
            room = self.client.rooms.get(room_id)
            if room is not None and with_user in room.users and with_user not in room.invited_users:
                return room_id
        raise TimeoutError(f"{with_user} did not join the DM")


async def main(rounds: int, block: int, log_level: str, profile: Path | None = None) -> None:
    work = Path(tempfile.mkdtemp(prefix="kennisbrug-bench-e2e-"))
    synapse = LocalSynapse(SynapseOptions(data_dir=work / "synapse"))
    await synapse.start()
    bot: subprocess.Popen[bytes] | None = None
    echo: subprocess.Popen[str] | None = None
    try:
        pw = {name: secrets.token_urlsafe(10) for name in ("kennisbrug", "member", "echo")}
        for name, password in pw.items():
            await synapse.register_user(name, password)
        config = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())
        config["matrix"].update(homeserver=synapse.base_url, user_id=BOT, password=pw["kennisbrug"])
        config["database"] = {"url": f"sqlite+aiosqlite:///{work / 'bot.db'}"}
        config["logging"] = {"level": log_level}
        config["flood"] = {"burst": 100_000, "seconds_per_command": 0.001}  # latency, not flood control
        (work / "config.yaml").write_text(yaml.safe_dump(config))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(work / "bot.log", "w") as log:
            # With --profile the bot runs under pyinstrument (written when it stops).
            profiler = ["-m", "pyinstrument", "-r", "text", "-o", str(profile)] if profile else []
            bot = subprocess.Popen(
                [
                    sys.executable,
                    *profiler,
                    str(ROOT / "run_bot.py"),
                    "run",
                    "--config",
                    str(work / "config.yaml"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=env,
            )
        (work / "member-store").mkdir()
        client = AsyncClient(
            synapse.base_url,
            "@member:localhost",
            store_path=str(work / "member-store"),
            config=AsyncClientConfig(
                encryption_enabled=True, store_sync_tokens=False, pickle_key="bench-member"
            ),
        )
        member = Member(client)
        await client.login(pw["member"], device_name="bench")
        await member.keys()
        await client.sync(timeout=1000, full_state=True)
        await member.keys()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the bot is ready once its welcome room exists
            if hasattr(await client.room_resolve_alias(config["rooms"]["welcome"]), "room_id"):
                break
            await asyncio.sleep(0.5)
        plain = await member.open_dm(encrypted=False)
        secret = await member.open_dm(encrypted=True)
        for _ in range(10):  # warm up both (catalogues, caches, Olm and Megolm sessions)
            await member.round_trip(plain)
            await member.round_trip(secret)
        # The encrypting echo bot answers with the bot's own (decrypted) answer, so the
        # homeserver stores and delivers the same bytes for both.
        reply = {k: v for k, v in member.last_reply.items() if k != "m.relates_to"}
        (work / "reply.json").write_text(json.dumps(reply))
        (work / "echo-store").mkdir()
        echo_argv = [str(work / "reply.json"), str(work / "echo-store")]
        echo = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "echo_bot_e2e.py"),
                synapse.base_url,
                ECHO,
                pw["echo"],
                *echo_argv,
            ],
            stdout=subprocess.PIPE,
            stderr=open(work / "echo.log", "w"),
            text=True,
            env=env,
        )
        assert echo.stdout is not None
        if (await asyncio.to_thread(echo.stdout.readline)).strip() != "ready":
            raise RuntimeError("the echo bot did not start (see echo.log)")
        echo_dm = await member.open_dm(encrypted=True, with_user=ECHO)
        for _ in range(10):
            await member.round_trip(echo_dm, sender=ECHO)

        plain_ms: list[float] = []
        secret_ms: list[float] = []
        echo_ms: list[float] = []
        while len(plain_ms) < rounds:
            for _ in range(min(block, rounds - len(plain_ms))):
                plain_ms.append(await member.round_trip(plain))
            for _ in range(min(block, rounds - len(secret_ms))):
                secret_ms.append(await member.round_trip(secret))
            for _ in range(min(block, rounds - len(echo_ms))):
                echo_ms.append(await member.round_trip(echo_dm, sender=ECHO))
        await client.close()

        def line(name: str, values: list[float]) -> str:
            return (
                f"{name:<14} n={len(values)}  p50={percentile(values, 0.5):6.1f} ms  "
                f"p95={percentile(values, 0.95):6.1f} ms  mean={statistics.fmean(values):6.1f} ms"
            )

        def ratio(name: str, a: list[float], b: list[float]) -> str:
            return (
                f"ratio {name}: p50 {percentile(a, 0.5) / percentile(b, 0.5):.3f}  "
                f"p95 {percentile(a, 0.95) / percentile(b, 0.95):.3f}"
            )

        print(line("plain DM", plain_ms))
        print(line("encrypted DM", secret_ms))
        print(line("echo, encr. DM", echo_ms))
        print(ratio("encrypted/plain", secret_ms, plain_ms))
        print(ratio("bot/echo, both encrypted (goal p50 <= 1.05, p95 <= 1.10)", secret_ms, echo_ms))
        print(f"replies the member could not decrypt: {member.undecryptable}")
    finally:
        for proc in (bot, echo):
            if proc is None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=60 if profile else 10)  # pyinstrument writes its profile at exit
            except subprocess.TimeoutExpired:
                proc.kill()
        await synapse.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--block", type=int, default=20, help="round trips per room before switching")
    parser.add_argument(
        "--log-level", default="WARNING", help="the bot's log level (its log is in the work folder)"
    )
    parser.add_argument(
        "--profile", type=Path, help="a pyinstrument profile of the bot, as text, into this file"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # nio's warnings about the member's own client
    asyncio.run(main(args.rounds, args.block, args.log_level, args.profile))
