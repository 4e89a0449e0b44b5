"""Fault injection: the bot as a real process, and a homeserver that goes away.

:class:`BotProcess` runs ``run_bot.py run --config PATH`` as a child process, exactly as
a service manager would, with its output (the bot logs to stderr) appended to a log
file per bot. It can be killed (SIGKILL: the crash), terminated (SIGTERM: a clean
stop), frozen (SIGSTOP) and restarted, and asked for ``run_bot.py health``.

:class:`SynapseFaults` does the same to a :class:`~bot.devtools.synapse.LocalSynapse`
(stop, start, kill, pause, resume, restart) and keeps a timeline with wall-clock
times, so a test can say how long after the homeserver's return the bot answered.
Only a homeserver owned by the test module may be broken, never the shared session
one.

Every wait here polls with a deadline; nothing waits forever. Child processes lead
their own process group, and whatever is still alive when the interpreter exits is
killed, so a crashed test run leaves no bot behind.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import copy
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.devtools.synapse import LocalSynapse

REPO_ROOT = Path(__file__).resolve().parents[3]
RUN_BOT = REPO_ROOT / "run_bot.py"

#: Exit codes of ``run_bot.py run`` (see bot/cli.py).
EXIT_INVALID_CREDENTIALS = 3
EXIT_ALREADY_RUNNING = 4
#: What the crash feature exits with (os._exit(137), like a SIGKILL seen by a shell).
EXIT_CRASH = 137

#: The line ``bot.app.run`` logs (INFO) once the features run and the sync starts.
STARTED_LINE = "bot started with"

_POLL_S = 0.1

_LIVE: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_LIVE):
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
    _LIVE.clear()


def child_env() -> dict[str, str]:
    """Our environment without Kennisbrug's secret overrides, unbuffered output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KENNISBRUG_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class HealthCheck:
    """One run of ``run_bot.py health``: its exit code, the JSON report and the timing."""

    exit_code: int
    report: dict[str, Any]
    seconds: float
    stderr: str = ""

    @property
    def healthy(self) -> bool:
        return self.exit_code == 0 and bool(self.report.get("healthy"))

    def summary(self) -> str:
        r = self.report
        return (
            f"healthy={r.get('healthy')} exit={self.exit_code} last_sync_age_s={r.get('last_sync_age_s')} "
            f"scheduler_alive={r.get('scheduler_alive')} database={r.get('database')} "
            f"outbox_backlog={r.get('outbox_backlog')} problems={r.get('problems')}"
        )


def _parse_json_object(text: str) -> dict[str, Any]:
    """The JSON object printed on stdout (the last line that parses as one)."""
    stripped = text.strip()
    with contextlib.suppress(ValueError):
        value = json.loads(stripped)
        if isinstance(value, dict):
            return value
    for line in reversed(stripped.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    return value
    return {}


class BotProcess:
    """``run_bot.py run`` in a child process, with a config file written from a dict."""

    def __init__(self, config: Mapping[str, Any], workdir: Path, name: str = "bot") -> None:
        self.config: dict[str, Any] = copy.deepcopy(dict(config))
        self.workdir = Path(workdir)
        self.name = name
        self.config_path = self.workdir / f"{name}.yaml"
        self.log_path = self.workdir / f"{name}.log"
        self.starts = 0
        self.started_at: float | None = None  # time.monotonic() of the last spawn
        self._proc: subprocess.Popen[bytes] | None = None
        self._run_offset = 0  # where the current run's output starts in the log file

    # ------------------------------------------------------------------ state

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit code of the last run (None while it runs or before the first)."""
        return self._proc.poll() if self._proc is not None else None

    def log_text(self) -> str:
        """Everything every run of this bot wrote (the log file is appended to)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def run_log(self) -> str:
        """What the current (or last) run wrote."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(self._run_offset)
                return fh.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_offset(self) -> int:
        """The current end of the log file; pass it to :meth:`log_since`."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(offset)
                return fh.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.run_log().splitlines()[-lines:])

    # -------------------------------------------------------------- life cycle

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False), encoding="utf-8")
        return self.config_path

    def spawn(self) -> None:
        """Start the process without waiting for anything."""
        if self.running:
            raise RuntimeError(f"bot {self.name} is already running (pid {self.pid})")
        self.write_config()
        self.starts += 1
        with self.log_path.open("ab") as out:
            out.write(f"\n==== {self.name}: start {self.starts} ====\n".encode())
            out.flush()
            self._run_offset = out.tell()
            self._proc = subprocess.Popen(
                [sys.executable, str(RUN_BOT), "run", "--config", str(self.config_path)],
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=child_env(),
                start_new_session=True,
            )
        self.started_at = time.monotonic()
        _LIVE.add(self._proc)

    async def start(self, timeout: float = 90.0, wait: bool = True) -> float:
        """Spawn and (by default) wait until started; returns the seconds it took."""
        self.spawn()
        if wait:
            await self.wait_started(timeout)
        assert self.started_at is not None
        return time.monotonic() - self.started_at

    async def wait_started(self, timeout: float = 90.0) -> float:
        """Until the bot logs that it runs (features started, sync beginning).

        From then on every command is answered: the first start is recorded before
        login, and later starts resume from the stored sync token.
        """
        deadline = time.monotonic() + timeout
        while STARTED_LINE not in self.run_log():
            if not self.running:
                raise AssertionError(
                    f"bot {self.name} exited with {self.returncode} before it started:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"bot {self.name} did not start within {timeout:.0f}s:\n{self.log_tail()}"
                )
            await asyncio.sleep(_POLL_S)
        assert self.started_at is not None
        return time.monotonic() - self.started_at

    async def wait_healthy(self, timeout: float = 60.0, interval: float = 1.0) -> HealthCheck:
        """Until ``run_bot.py health`` says healthy (heartbeat written after a sync)."""
        deadline = time.monotonic() + timeout
        last: HealthCheck | None = None
        while time.monotonic() < deadline:
            last = await self.health()
            if last.healthy:
                return last
            if not self.running:
                break
            await asyncio.sleep(interval)
        raise AssertionError(
            f"bot {self.name} not healthy within {timeout:.0f}s: {last.summary() if last else 'no report'}"
        )

    async def wait_exit(self, timeout: float) -> int | None:
        """The exit code, or None if the process still runs after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.running:
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(_POLL_S)
        return self.returncode

    async def kill(self) -> int | None:
        """SIGKILL: the crash. No clean shutdown, nothing flushed by the bot."""
        if self._proc is None:
            return None
        if self.running:
            self._signal(signal.SIGKILL)
        code = await self.wait_exit(10)
        if code is None:
            raise AssertionError(f"bot {self.name} survived SIGKILL")
        _LIVE.discard(self._proc)
        return code

    async def terminate(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait for a clean stop; SIGKILL if it takes longer than ``timeout``."""
        if self._proc is None:
            return None
        if self.running:
            self._signal(signal.SIGCONT)  # a frozen process acts on SIGTERM only when it runs
            self._signal(signal.SIGTERM)
        code = await self.wait_exit(timeout)
        if code is None:
            await self.kill()
            raise AssertionError(f"bot {self.name} ignored SIGTERM for {timeout:.0f}s:\n{self.log_tail()}")
        _LIVE.discard(self._proc)
        return code

    async def restart(self, timeout: float = 90.0, wait: bool = True) -> float:
        """Kill (if running) and start again on the same config and database."""
        if self.running:
            await self.kill()
        return await self.start(timeout=timeout, wait=wait)

    def freeze(self) -> None:
        """SIGSTOP: the process hangs (for the heartbeat side of health)."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)

    def kill_now(self) -> None:
        """Synchronous SIGKILL for fixture teardown."""
        if self._proc is not None and self._proc.poll() is None:
            self._signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)
        if self._proc is not None:
            _LIVE.discard(self._proc)

    def _signal(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)

    # ------------------------------------------------------------------ health

    async def health(self, timeout: float = 30.0) -> HealthCheck:
        """Run ``run_bot.py health --config PATH`` once."""
        if not self.config_path.exists():
            self.write_config()
        return await run_health(self.config_path, timeout)


async def run_health(config_path: Path, timeout: float = 30.0) -> HealthCheck:
    started = time.monotonic()
    try:
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(RUN_BOT), "health", "--config", str(config_path)],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"run_bot.py health did not answer within {timeout:.0f}s") from exc
    return HealthCheck(
        exit_code=result.returncode,
        report=_parse_json_object(result.stdout),
        seconds=time.monotonic() - started,
        stderr=result.stderr,
    )


@dataclass
class SynapseFaults:
    """Breaks a homeserver on purpose and notes when (wall-clock ``time.time()``)."""

    hs: LocalSynapse
    timeline: list[tuple[str, float]] = field(default_factory=list)

    def _note(self, what: str) -> float:
        moment = time.time()
        self.timeline.append((what, moment))
        return moment

    async def stop(self) -> float:
        """SIGTERM and wait until it is gone; returns when it was gone."""
        await self.hs.stop()
        return self._note("stopped")

    async def kill(self) -> float:
        await self.hs.kill()
        return self._note("killed")

    async def start(self) -> float:
        """Start and wait until it answers ``/versions``; returns when it answered."""
        await self.hs.start()
        return self._note("answering")

    async def restart(self) -> float:
        await self.hs.restart()
        return self._note("answering")

    def pause(self) -> float:
        """SIGSTOP: the port stays open, nothing answers (a hung connection)."""
        self.hs.pause()
        return self._note("paused")

    def resume(self) -> float:
        self.hs.resume()
        return self._note("resumed")

    async def ensure_up(self) -> None:
        """Running and not paused, whatever an earlier test left behind."""
        if self.hs.is_running:
            self.hs.resume()
        else:
            await self.start()

    async def set_rate_limits(self, relaxed: bool) -> float:
        """Restart with relaxed or with Synapse's default ``rc_*`` limits (same data)."""
        self.hs.options.relaxed_rate_limits = relaxed
        await self.hs.restart()
        return self._note("relaxed limits" if relaxed else "default limits")
