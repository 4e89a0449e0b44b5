"""The large community, measured: start-up, replies, the digest and a reminder at N members.

One real Synapse on loopback, backed by PostgreSQL from bot/devtools/postgres.py
(``--synapse-db sqlite``: the harness's default, which does not keep up with 2,000
members). The bot itself keeps SQLite, its default. The community grows step by step
to each of ``--sizes`` (bench/scale_community.py: members with devices and uploaded
keys, an encrypted DM each, all in the bot's community rooms, profiles and digest
subscriptions in the bot's database). At each size:

1. start-up, the bot as its own process (``run_bot.py run``): a catch-up start after
   the growth (kept running until its outbox has sent what is due: the welcomes to the
   new members), then a restart (incremental sync) and a fresh login (the stored token
   and sync token removed: the initial sync of every room); each timed from the
   process's start to the answer of a ``!help`` sent at that moment, and the resident
   memory then. Baseline: a bare nio client (bench/echo_bot.py) logged in as the bot's
   account, so in exactly its rooms, to its answer of the same kind of probe.
2. ``!help`` latency in a community room and in the prober's encrypted DM, against the
   echo bot (its own account, in the same community room, and in a plain DM).
3. the Monday digest, the bot in this process: ``Digest.send_all`` to every
   subscriber, until the last message is on the homeserver (its origin_server_ts);
   baseline: the same number of messages put into the same DMs over bare HTTP as the
   bot's account, as many at once as the outbox sends.
4. an event reminder to 500 attendees (or everyone when fewer), in the same bot after the
   digest (so to DMs it has written to): lateness of every message from its due moment
   to its server timestamp.

Before the first size, the bot starts on the empty community: its idle memory. At the
end a table, and a projection to 50,000 members from the growth between the last two
sizes (linear; say so where growth is worse).

    .venv/bin/python bench/scale.py [--sizes 500,2000,5000] [--rounds 40] [--synapse-db postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import yaml
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.encrypted_latency import Member  # noqa: E402
from bench.latency import Prober, percentile, wait_for_line  # noqa: E402
from bench.scale_community import (  # noqa: E402
    Account,
    Homeserver,
    add_members,
    join_rooms,
    open_dms,
    open_rooms,
    record,
    write_m_direct,
)
from bench.scale_fanout import fanouts  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.devtools.synapse import LocalSynapse, SynapseOptions  # noqa: E402
from bot.matrix import state  # noqa: E402
from bot.storage import Database  # noqa: E402
from bot.storage.models import OutboxMessage  # noqa: E402

BOT = "@kennisbrug:localhost"
ECHO = "@echo:localhost"
ECHO_TRIGGER = "echo?"
MEMORY_SETTLE_S = 2.0
GOALS = "goals at 5,000: start-up < 10 s, memory < 200 MB; idle memory <= 100 MB"


class BotProcess:
    """``run_bot.py run`` (or the echo bot) as a child process; its log in the work folder."""

    def __init__(self, argv: list[str], log: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.started = time.perf_counter()
        with log.open("a") as out:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=out, text=True, env=env)

    def rss_mib(self) -> float:
        return psutil.Process(self.proc.pid).memory_info().rss / 2**20

    async def stop(self) -> None:
        self.proc.terminate()
        try:
            await asyncio.to_thread(self.proc.wait, 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Bench:
    def __init__(self, work: Path, synapse: LocalSynapse, rounds: int, profile: Path | None = None) -> None:
        self.work = work
        self.profile = profile
        self.synapse = synapse
        self.rounds = rounds
        self.password = secrets.token_urlsafe(12)
        self.rows: dict[int, dict[str, Any]] = {}
        self.members: list[Account] = []
        self.dms: dict[str, str] = {}

    # -- set-up ----------------------------------------------------------------------

    async def prepare(self) -> None:
        for name in ("kennisbrug", "echo", "prober"):
            await self.synapse.register_user(name, self.password)
        raw = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())
        raw["matrix"].update(homeserver=self.synapse.base_url, user_id=BOT, password=self.password)
        raw["database"] = {"url": f"sqlite+aiosqlite:///{self.work / 'bot.db'}"}
        raw["logging"] = {"level": "WARNING"}
        raw["flood"] = {"burst": 100_000, "seconds_per_command": 0.001}  # latency, not flood control
        raw["nudges"] = {"weekly_budget": 1000, "quiet_hours": "00:00-00:00", "quiet_weekends": False}
        raw["introductions"]["spotlight"]["enabled"] = False
        self.raw = raw
        self.config_path = self.work / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(raw))
        self.config = parse_config(raw, self.config_path, env={})
        self.db = Database(self.config.database.url)

    def bot(self) -> BotProcess:
        argv = [sys.executable, str(ROOT / "run_bot.py"), "run", "--config", str(self.config_path)]
        return BotProcess(argv, self.work / "bot.log")

    def echo(self, user_id: str, trigger: str) -> BotProcess:
        argv = [sys.executable, str(ROOT / "bench" / "echo_bot.py"), self.synapse.base_url, user_id]
        return BotProcess(
            [*argv, self.password, str(self.work / "reply.json"), trigger], self.work / "echo.log"
        )

    async def first_start(self) -> None:
        """The bot on the empty community: rooms created, idle memory, the prober set up."""
        bot = self.bot()
        prober_store = self.work / "prober-store"
        prober_store.mkdir()
        from nio import AsyncClient, AsyncClientConfig

        client = AsyncClient(
            self.synapse.base_url,
            "@prober:localhost",
            store_path=str(prober_store),
            config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False, pickle_key="bench"),
        )
        await client.login(self.password, device_name="prober")
        self.prober = Member(client)
        self.probe = Prober(client)
        await self.prober.keys()
        welcome = self.raw["rooms"]["welcome"]
        deadline = time.monotonic() + 180
        while not hasattr(await client.room_resolve_alias(welcome), "room_id"):
            if time.monotonic() > deadline or bot.proc.poll() is not None:
                raise RuntimeError("the bot never created its rooms (see bot.log)")
            await asyncio.sleep(0.5)
        self.bot_token = await self._bot_account()
        self.rooms = await self._community_rooms()
        hs = Homeserver(self.synapse, 16)
        try:
            await open_rooms(hs, self.bot_token, self.rooms)
            for room in self.rooms:
                await client.join(room)
        finally:
            await hs.close()
        self.welcome = self.rooms[0]
        await client.sync(timeout=1000, full_state=True)
        await self.probe.round_trip(self.welcome, "!help", BOT, timeout=120)
        (self.work / "reply.json").write_text(json.dumps(self.probe.last_reply))
        await asyncio.sleep(MEMORY_SETTLE_S)
        self.rows[0] = {"idle_first_mib": bot.rss_mib()}
        self.dm = await self.prober.open_dm(encrypted=True)
        await bot.stop()
        # Idle memory as a bot runs for weeks: a restart, the schema already migrated
        # (the first start above also ran every migration, with Alembic loaded).
        bot = self.bot()
        await self.probe.round_trip(self.welcome, "!help", BOT, timeout=300)
        await asyncio.sleep(MEMORY_SETTLE_S)
        self.rows[0]["idle_mib"] = bot.rss_mib()
        await bot.stop()
        # The echo bot's own account: in the welcome room and in a plain DM with the prober.
        self.echo_dm = (await client.room_create(name="echo", invite=[ECHO])).room_id
        hs = Homeserver(self.synapse, 4)
        try:
            login = await self.synapse.login(ECHO, self.password)
            await hs.call("POST", f"/join/{self.welcome}", login["access_token"], {})
            await hs.call("POST", f"/join/{self.echo_dm}", login["access_token"], {})
        finally:
            await hs.close()

    async def _bot_account(self) -> Account:
        stored = await state.load(self.db, state.ACCESS_TOKEN, state.DEVICE_ID)
        return Account(BOT, stored[state.ACCESS_TOKEN], stored.get(state.DEVICE_ID, ""))

    async def _community_rooms(self) -> list[str]:
        aliases = [self.raw["rooms"][key] for key in ("welcome", "events", "questions")]
        aliases += [theme["room"] for theme in self.raw.get("themes", [])]
        found = []
        for alias in aliases:
            resp = await self.probe.client.room_resolve_alias(alias)
            if hasattr(resp, "room_id"):
                found.append(resp.room_id)
        return found

    async def grow(self, size: int) -> float:
        """Members up to ``size``; returns the seconds it took."""
        started = time.perf_counter()
        hs = Homeserver(self.synapse, 16)
        try:
            phases = [time.perf_counter()]
            new = await add_members(hs, len(self.members), size, self.password)
            phases.append(time.perf_counter())
            await join_rooms(hs, new, self.rooms)
            phases.append(time.perf_counter())
            dms = await open_dms(hs, self.bot_token, new)
            phases.append(time.perf_counter())
            took = [f"{b - a:.0f}" for a, b in itertools.pairwise(phases)]
            print(f"set-up to {size:,}: accounts and keys, room joins, DMs: {' / '.join(took)} s", flush=True)
            self.dms.update(dms)
            m_direct = {**self.dms, self.prober.client.user_id: self.dm}
            await write_m_direct(hs, self.bot_token, m_direct)
        finally:
            await hs.close()
        await record(self.db, dms, new, seed=size)
        self.members.extend(new)
        return time.perf_counter() - started

    # -- measuring -------------------------------------------------------------------

    async def start_up(self, proc: BotProcess, reply_from: str, body: str) -> tuple[float, float]:
        """Seconds from the process's start to the answer of a probe sent then; memory.

        The bare client drops what came before its first sync (as bench/echo_bot.py
        says), so its probe goes once it is ready; the bot answers what was sent while
        it started."""
        if reply_from == BOT and body != "!help":
            await wait_for_line(proc.proc, "ready", 900)  # type: ignore[arg-type]
        await self.probe.round_trip(self.welcome, body, reply_from, timeout=900)
        took = time.perf_counter() - proc.started
        # Memory a moment later: the bot hands the start-up's freed heap back once its
        # first sync batch is handled (bot/memory.py); the bare client gets the same wait.
        await asyncio.sleep(MEMORY_SETTLE_S)
        return took, proc.rss_mib()

    async def outbox_drained(self, proc: BotProcess, limit_s: float = 1800) -> float:
        """Seconds from the process's start until its outbox holds nothing due."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline and proc.proc.poll() is None:
            query = (
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.due_at <= datetime.now(UTC))
            )
            async with self.db.session() as session:
                if not await session.scalar(query):
                    break
            await asyncio.sleep(1.0)
        return time.perf_counter() - proc.started

    async def measure(self, size: int) -> None:
        row = self.rows.setdefault(size, {})
        # The prober reads the growth first, so its own sync is not in the figures.
        await self.probe.client.sync(timeout=0, since=self.probe.client.next_batch)
        bot = self.bot()
        row["catch_up_s"], _ = await self.start_up(bot, BOT, "!help")
        # What the catch-up has to send (a welcome to every new member) goes out before
        # the restart is timed: otherwise the restart measures that backlog, not itself.
        row["catch_up_drained_s"] = await self.outbox_drained(bot)
        await bot.stop()
        bot = self.bot()
        row["restart_s"], row["restart_mib"] = await self.start_up(bot, BOT, "!help")
        await bot.stop()
        await state.remove(self.db, state.ACCESS_TOKEN, state.NEXT_BATCH)
        bot = self.bot()
        row["login_s"], row["login_mib"] = await self.start_up(bot, BOT, "!help")
        self.bot_token = await self._bot_account()
        try:
            await self.latencies(row)
            row["steady_mib"] = bot.rss_mib()
        finally:
            await bot.stop()
        baseline = self.echo(BOT, "!baseline")
        try:
            row["bare_s"], row["bare_mib"] = await self.start_up(baseline, BOT, "!baseline")
        finally:
            await baseline.stop()
        attendees = [m.user_id for m in self.members[:500]]
        profile_to = self.profile / str(size) if self.profile is not None else None
        row.update(
            await fanouts(self.config, self.synapse, self.bot_token.token, self.dms, attendees, profile_to)
        )

    async def latencies(self, row: dict[str, Any]) -> None:
        echo = self.echo(ECHO, ECHO_TRIGGER)
        try:
            assert echo.proc.stdout is not None
            await wait_for_line(echo.proc, "ready", 300)  # type: ignore[arg-type]
            for _ in range(5):  # warm both up
                await self.probe.round_trip(self.welcome, "!help", BOT)
                await self.probe.round_trip(self.welcome, ECHO_TRIGGER, ECHO)
                await self.prober.round_trip(self.dm)
                await self.probe.round_trip(self.echo_dm, ECHO_TRIGGER, ECHO)
            results: dict[str, list[float]] = {"room": [], "room_echo": [], "dm": [], "dm_echo": []}
            for _ in range(self.rounds):
                results["room"].append(await self.probe.round_trip(self.welcome, "!help", BOT))
                results["room_echo"].append(await self.probe.round_trip(self.welcome, ECHO_TRIGGER, ECHO))
                results["dm"].append(await self.prober.round_trip(self.dm))
                results["dm_echo"].append(await self.probe.round_trip(self.echo_dm, ECHO_TRIGGER, ECHO))
            for key, values in results.items():
                row[f"{key}_p50"] = percentile(values, 0.5)
                row[f"{key}_p95"] = percentile(values, 0.95)
        finally:
            await echo.stop()


def idle_line(row: dict[str, Any]) -> str:
    return (
        f"idle resident memory, no members: {row['idle_mib']:.0f} MiB after a restart "
        f"({row['idle_first_mib']:.0f} MiB at the first start, which migrates; goal <= 100 MB)"
    )


def table(rows: dict[int, dict[str, Any]], sizes: list[int]) -> list[str]:
    def cell(size: int, key: str, fmt: str) -> str:
        value = rows.get(size, {}).get(key)
        return format(value, fmt) if isinstance(value, (int, float)) else "-"

    def ratio(size: int, a: str, b: str) -> str:
        row = rows.get(size, {})
        return f"{row[a] / row[b]:.2f}" if row.get(a) and row.get(b) else "-"

    lines = [f"{'members':<44}" + "".join(f"{n:>10,}" for n in sizes)]
    spec = [
        ("grow the community (s, set-up)", "grow_s", ".0f"),
        ("start after growth, to first answer (s)", "catch_up_s", ".1f"),
        ("  until its outbox was sent (s)", "catch_up_drained_s", ".0f"),
        ("restart, incremental sync, first answer (s)", "restart_s", ".1f"),
        ("  resident memory then (MiB)", "restart_mib", ".0f"),
        ("fresh login, initial sync, first answer (s)", "login_s", ".1f"),
        ("  resident memory then (MiB)", "login_mib", ".0f"),
        ("  after the latency rounds (MiB)", "steady_mib", ".0f"),
        ("bare nio client: initial sync, answer (s)", "bare_s", ".1f"),
        ("  its resident memory (MiB)", "bare_mib", ".0f"),
        ("!help community room p50 (ms)", "room_p50", ".0f"),
        ("  p95 (ms)", "room_p95", ".0f"),
        ("  echo bot, same room p50 (ms)", "room_echo_p50", ".0f"),
        ("!help encrypted DM p50 (ms)", "dm_p50", ".0f"),
        ("  p95 (ms)", "dm_p95", ".0f"),
        ("  echo bot, plain DM p50 (ms)", "dm_echo_p50", ".0f"),
        ("digest: subscribers", "digest_subscribers", ".0f"),
        ("  planned (a digest with something in it)", "digest_planned", ".0f"),
        ("  delivered (on the homeserver)", "digest_delivered", ".0f"),
        ("  until the last arrived (s)", "digest_last_s", ".1f"),
        ("  bot sends per second", "digest_rate", ".0f"),
        ("  plain client, same messages, per second", "digest_base_rate", ".0f"),
        ("reminder: attendees", "remind_n", ".0f"),
        ("  lateness p50 (ms)", "remind_p50", ".0f"),
        ("  lateness p95 (ms)", "remind_p95", ".0f"),
    ]
    for label, key, fmt in spec:
        lines.append(f"{label:<44}" + "".join(f"{cell(n, key, fmt):>10}" for n in sizes))
    for label, a, b in (
        ("ratio bot/echo, room p50", "room_p50", "room_echo_p50"),
        ("ratio bot/echo, DM p50 (encrypted/plain)", "dm_p50", "dm_echo_p50"),
        ("ratio digest pace bot/plain client", "digest_rate", "digest_base_rate"),
    ):
        lines.append(f"{label:<44}" + "".join(f"{ratio(n, a, b):>10}" for n in sizes))
    return lines


def projection(rows: dict[int, dict[str, Any]], sizes: list[int], target: int = 50_000) -> list[str]:
    """Linear from the growth between the last two sizes (memory: from the empty
    community when there is one size; the other figures need two sizes)."""
    high = sizes[-1]
    low = sizes[-2] if len(sizes) > 1 else 0
    out = [f"projection to {target:,} members, linear from the growth {low:,} -> {high:,}:"]
    for key, label in (
        ("restart_s", "restart, first answer (s)"),
        ("login_s", "fresh login, first answer (s)"),
        ("login_mib", "resident memory (MiB)"),
        ("digest_last_s", "digest to every subscriber (s)"),
        ("grow_s", "set-up of the community (s)"),
    ):
        a = rows.get(low, {}).get("idle_mib" if low == 0 and key.endswith("mib") else key)
        b = rows.get(high, {}).get(key)
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            out.append(f"  {label:<36} (needs two sizes)")
            continue
        slope = (b - a) / (high - low)
        out.append(
            f"  {label:<36} {b + slope * (target - high):10.0f}  ({slope * 1000:+.2f} per 1,000 members)"
        )
    return out


async def main(args: argparse.Namespace) -> None:
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())  # none: idle memory only
    # nio complains about each direct chat's answer schema; the chats work, the lines
    # would hide the figures (as in bench/events_reminders.py).
    logging.getLogger("nio.responses").setLevel(logging.CRITICAL)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    work = Path(tempfile.mkdtemp(prefix="kb-bench-scale-"))
    postgres = None
    options = SynapseOptions(data_dir=work / "synapse")
    if args.synapse_db == "postgres":
        from bot.devtools.postgres import LocalPostgres

        # Synapse's PostgreSQL driver is psycopg2, in a folder of its own that only the
        # homeserver's process sees (make bench-scale installs it there).
        options.python_path = (args.synapse_python_path,)
        postgres = LocalPostgres()
        postgres.start()
        await postgres.execute("CREATE DATABASE synapse TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'")
        options.database = {
            "name": "psycopg2",
            "args": {"dsn": postgres.dsn("synapse"), "cp_min": 2, "cp_max": 10},
        }
    synapse = LocalSynapse(options)
    await synapse.start(timeout=120)
    bench = Bench(work, synapse, args.rounds, args.profile)
    started = time.perf_counter()
    try:
        await bench.prepare()
        await bench.first_start()
        print(idle_line(bench.rows[0]), flush=True)
        for size in sizes:
            grow_s = await bench.grow(size)
            print(f"community of {size:,}: set up in {grow_s:.0f} s", flush=True)
            bench.rows.setdefault(size, {})["grow_s"] = grow_s
            await bench.measure(size)
            print("\n".join(table(bench.rows, sizes)), flush=True)
    finally:
        with contextlib.suppress(Exception):
            await bench.prober.client.close()
        await synapse.stop()
        if postgres is not None:
            postgres.stop()
    print(
        f"\nSynapse on {args.synapse_db}; whole run {time.perf_counter() - started:.0f} s; work folder {work}"
    )
    print(idle_line(bench.rows[0]))
    print("\n".join(table(bench.rows, sizes)))
    if sizes:
        print("\n".join(projection(bench.rows, sizes)))
    print(GOALS)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="500,2000,5000", help="community sizes, grown in this order")
    parser.add_argument("--rounds", type=int, default=40, help="!help round trips per room and bot")
    parser.add_argument(
        "--synapse-db",
        choices=("sqlite", "postgres"),
        default="postgres",
        help="the homeserver's database; on SQLite Synapse does not keep up with 2,000 members",
    )
    parser.add_argument(
        "--synapse-python-path",
        type=Path,
        default=ROOT / ".venv" / "synapse-postgres",
        help="folder holding psycopg2 for the homeserver alone (make bench-scale installs it)",
    )
    parser.add_argument(
        "--profile", type=Path, help="folder for pyinstrument profiles of the digest and the reminder"
    )
    asyncio.run(main(parser.parse_args()))
