"""Reply latency of the bot to ``!help`` against a bare echo bot, on one local Synapse.

Starts a real Synapse on a free loopback port, the bot (``run_bot.py run``) and the echo
bot (bench/echo_bot.py) as separate processes, then a member sends N commands to each,
one after the other, timing send → reply seen in the member's sync. Both are measured in
the same run, interleaved in blocks so that machine noise hits both alike. Each bot has a
room of its own with the member in it, and the echo bot answers with the very content
the bot sent for ``!help``, so the homeserver does the same work for both and the ratio
is the bot's own overhead.
Prints p50, p95, the ratio bot/echo and the bot's resident memory.

    .venv/bin/python bench/latency.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml
from nio import AsyncClient, RoomMessageNotice

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.devtools.synapse import LocalSynapse, SynapseOptions  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class Prober:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        # Server-side time from the command to the reply (both origin_server_ts), by bot:
        # what the bot itself adds, without the member's own sync and send.
        self.server_ms: dict[str, list[float]] = {}
        self.last_reply: dict[str, object] = {}

    async def round_trip(self, room_id: str, body: str, reply_from: str, timeout: float = 30) -> float:
        start = time.perf_counter()
        sent = await self.client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})
        command_id = sent.event_id
        command_ts: int | None = None
        deadline = start + timeout
        while time.perf_counter() < deadline:
            response = await self.client.sync(timeout=30_000, since=self.client.next_batch)
            room = getattr(response, "rooms", None)
            if room is None or room_id not in room.join:
                continue
            for event in room.join[room_id].timeline.events:
                if event.event_id == command_id:
                    command_ts = event.server_timestamp
                if isinstance(event, RoomMessageNotice) and event.sender == reply_from:
                    self.last_reply = dict(event.source["content"])
                    if command_ts is not None:
                        self.server_ms.setdefault(reply_from, []).append(event.server_timestamp - command_ts)
                    return (time.perf_counter() - start) * 1000
        raise TimeoutError(f"no reply from {reply_from} within {timeout}s")


async def wait_for_line(proc: subprocess.Popen[str], text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = await asyncio.to_thread(proc.stdout.readline)
        if text in line:
            return
        if not line and proc.poll() is not None:
            raise RuntimeError(f"process ended before printing {text!r}")
    raise TimeoutError(text)


async def main(rounds: int, block: int, log_level: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="kennisbrug-bench-"))
    synapse = LocalSynapse(SynapseOptions(data_dir=work / "synapse"))
    await synapse.start()
    procs: list[subprocess.Popen[str]] = []
    try:
        pw = {name: secrets.token_urlsafe(10) for name in ("kennisbrug", "echo", "member")}
        for name, password in pw.items():
            await synapse.register_user(name, password)
        config = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())
        config["matrix"].update(
            homeserver=synapse.base_url, user_id="@kennisbrug:localhost", password=pw["kennisbrug"]
        )
        config["database"] = {"url": f"sqlite+aiosqlite:///{work / 'bot.db'}"}
        config["logging"] = {"level": log_level}
        # 200 commands in a row from one member are a flood by design; this measures
        # latency, so flood control is opened wide (its own cost is still paid).
        config["flood"] = {"burst": 100_000, "seconds_per_command": 0.001}
        (work / "config.yaml").write_text(yaml.safe_dump(config))

        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        bot = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "run_bot.py"),
                "run",
                "--config",
                str(work / "config.yaml"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(work / "bot.log", "w"),
            text=True,
            env=env,
        )
        procs.append(bot)
        member = AsyncClient(synapse.base_url, "@member:localhost")
        await member.login(pw["member"])
        deadline = time.monotonic() + 120
        bot_room = None
        while time.monotonic() < deadline:  # the bot creates its rooms at start-up
            joined = await member.join(config["rooms"]["welcome"])
            if hasattr(joined, "room_id"):
                bot_room = joined.room_id
                break
            await asyncio.sleep(0.5)
        assert bot_room, "the bot's welcome room never appeared"
        await asyncio.sleep(2)  # the rest of the community rooms
        await member.sync(timeout=1000, full_state=True)
        prober = Prober(member)
        for _ in range(10):  # warm up the bot (catalogues, caches, connections)
            await prober.round_trip(bot_room, "!help", "@kennisbrug:localhost")
        (work / "reply.json").write_text(json.dumps(prober.last_reply))
        echo = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "echo_bot.py"),
                synapse.base_url,
                "@echo:localhost",
                pw["echo"],
                str(work / "reply.json"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        procs.append(echo)
        await wait_for_line(echo, "ready", 60)
        created = await member.room_create(name="echo", invite=["@echo:localhost"])
        echo_room = created.room_id
        for _ in range(10):
            await prober.round_trip(echo_room, "!help", "@echo:localhost")
        prober.server_ms.clear()

        bot_ms: list[float] = []
        echo_ms: list[float] = []
        while len(bot_ms) < rounds:
            for _ in range(min(block, rounds - len(bot_ms))):
                bot_ms.append(await prober.round_trip(bot_room, "!help", "@kennisbrug:localhost"))
            for _ in range(min(block, rounds - len(echo_ms))):
                echo_ms.append(await prober.round_trip(echo_room, "!help", "@echo:localhost"))
        rss = psutil.Process(bot.pid).memory_info().rss / 2**20
        await member.close()

        def line(name: str, values: list[float]) -> str:
            return (
                f"{name:<10} n={len(values)}  p50={percentile(values, 0.5):6.1f} ms  "
                f"p95={percentile(values, 0.95):6.1f} ms  mean={statistics.fmean(values):6.1f} ms"
            )

        print(line("echo bot", echo_ms))
        print(line("kennisbrug", bot_ms))
        print(
            f"ratio bot/echo: p50 {percentile(bot_ms, 0.5) / percentile(echo_ms, 0.5):.3f}  "
            f"p95 {percentile(bot_ms, 0.95) / percentile(echo_ms, 0.95):.3f}   (target <= 1.10)"
        )
        print(f"kennisbrug resident memory: {rss:.1f} MiB")
        for who, values in prober.server_ms.items():
            print(f"server-side command->reply {who}: p50 {percentile(values, 0.5):.0f} ms (n={len(values)})")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        await synapse.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--block", type=int, default=20, help="round trips per bot before switching")
    parser.add_argument(
        "--log-level", default="WARNING", help="the bot's log level (its log is in the work folder)"
    )
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.block, args.log_level))
