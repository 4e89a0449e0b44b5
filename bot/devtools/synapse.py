"""A real, local Synapse homeserver for the test suite, the demo and the benchmarks.

Mocks of the Matrix client-server API drift away from what a homeserver really
does (rate limiting, sync gaps, room versions, error codes). This module runs the
genuine ``synapse.app.homeserver`` from the virtualenv instead, bound to loopback
only, with its configuration, database, media and logs all inside one directory.

Typical use::

    async with LocalSynapse(SynapseOptions(data_dir=tmp_path)) as hs:
        user_id = await hs.register_user("alice", "secret")
        tokens = await hs.login(user_id, "secret")

Design notes:

* The homeserver runs as a plain child process (``subprocess.Popen``) in its own
  session/process group, and every wait is an ``asyncio.sleep`` polling loop with a
  deadline. An ``asyncio`` subprocess would be bound to the event loop that created
  it; a plain process lets one harness outlive a pytest-asyncio event loop (for
  example a session-wide homeserver used by function-scoped tests).
* The configuration is generated once by Synapse itself and then patched on every
  start, so changing :class:`SynapseOptions` (rate limits, log level, room version)
  between runs on the same directory takes effect, while users, rooms and the
  signing key are kept.
* A process left running when the interpreter exits (a crashed test session) is
  killed by an ``atexit`` hook, so no orphaned homeservers pile up.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import errno
import hashlib
import hmac
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import yaml

logger = logging.getLogger(__name__)

__all__ = [
    "LocalSynapse",
    "SynapseHarnessError",
    "SynapseOptions",
    "free_port",
]

LOOPBACK = "127.0.0.1"
CONFIG_NAME = "homeserver.yaml"
LOG_CONFIG_NAME = "harness.log.config"
SYNAPSE_LOG_NAME = "homeserver.log"
STDOUT_LOG_NAME = "synapse.stdout.log"

#: Generous limits used when ``relaxed_rate_limits`` is on: high enough that no test
#: or benchmark is ever throttled, yet still finite so the limiter code paths run.
_RELAXED = {"per_second": 1000, "burst_count": 1000}

#: Every ``rc_*`` limiter read by ``synapse/config/ratelimiting.py`` in Synapse 1.163
#: (dotted names are nested mappings). ``rc_federation`` is left out on purpose: it
#: has a different schema and federation is disabled anyway.
_RATE_LIMIT_KEYS: tuple[str, ...] = (
    "rc_message",
    "rc_registration",
    "rc_registration_token_validity",
    "rc_login.address",
    "rc_login.account",
    "rc_login.failed_attempts",
    "rc_admin_redaction",
    "rc_joins.local",
    "rc_joins.remote",
    "rc_joins_per_room",
    "rc_key_requests",
    "rc_3pid_validation",
    "rc_invites.per_room",
    "rc_invites.per_user",
    "rc_invites.per_issuer",
    "rc_third_party_invite",
    "rc_media_create",
    "rc_presence.per_user",
    "rc_delayed_event_mgmt",
    "rc_room_creation",
    "rc_reports",
    "rc_user_directory",
    "rc_profile",
)

_HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30)
_POLL_INTERVAL = 0.05


class SynapseHarnessError(RuntimeError):
    """The harness could not start Synapse, or an admin/client call failed.

    ``status`` and ``body`` carry the HTTP status and decoded JSON (when the failure
    was an HTTP response) so tests can assert on Matrix error codes.
    """

    def __init__(self, message: str, status: int | None = None, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body or {}


@dataclass
class SynapseOptions:
    """How to run the local homeserver.

    ``port=None`` picks a free loopback port (and, on a re-used ``data_dir``, keeps
    the previous port when it is still free, so clients configured with the old base
    URL keep working across restarts). ``relaxed_rate_limits=False`` keeps Synapse's
    own ``rc_*`` defaults so the bot's rate-limit handling can be exercised for real.
    ``fast_hashing`` lowers ``bcrypt_rounds`` to 4: registration and login become
    milliseconds instead of a large fraction of a second.
    ``bytecode_cache`` lets the Synapse process cache compiled bytecode in a per-user
    cache directory even when ``PYTHONDONTWRITEBYTECODE`` is set: otherwise every
    start recompiles Synapse, which roughly doubles start-up time.
    """

    data_dir: Path
    server_name: str = "localhost"
    port: int | None = None
    relaxed_rate_limits: bool = True
    fast_hashing: bool = True
    default_room_version: str | None = None
    log_level: str = "WARNING"
    bytecode_cache: bool = True
    #: Synapse's ``database`` section; None: SQLite in ``data_dir`` (a benchmark of a
    #: large community may back it with PostgreSQL, see bench/scale.py).
    database: dict[str, Any] | None = None


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    Shared machines may already run something on 8008, so never hard-code a port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_is_free(port: int) -> bool:
    """Whether Synapse could listen on ``127.0.0.1:port`` right now.

    ``SO_REUSEADDR`` mirrors what Twisted sets on its listening sockets, so sockets
    in TIME_WAIT from a previous run of the homeserver do not count as "taken".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
        return True


def _bytecode_cache_dir() -> Path:
    """Per-user directory for Synapse's compiled bytecode (keeps the virtualenv untouched)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kennisbrug" / "synapse-pycache"


def _tail(path: Path, lines: int = 40) -> str:
    """Last ``lines`` lines of a log file, for error messages ('' if absent)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines))
    except FileNotFoundError:
        return ""


# Processes still alive at interpreter exit are killed, so a crashed or interrupted
# test run does not leave homeservers holding ports and 120 MB each.
_LIVE_PROCESSES: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_LIVE_PROCESSES):
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
    _LIVE_PROCESSES.clear()


class LocalSynapse:
    """A Synapse homeserver process bound to ``127.0.0.1``, owned by this object.

    All state (config, SQLite database, media, signing key, logs) lives under
    ``options.data_dir``; a later :meth:`start` on the same directory continues with
    the same users and rooms.
    """

    def __init__(self, options: SynapseOptions) -> None:
        self.options = options
        self._data_dir = Path(options.data_dir).resolve()
        self._port: int | None = options.port
        self._proc: subprocess.Popen[bytes] | None = None
        self._paused = False
        self._shared_secret: str | None = None

    # ------------------------------------------------------------------ properties

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    @property
    def server_name(self) -> str:
        return self.options.server_name

    @property
    def port(self) -> int:
        """The listening port (known once :meth:`start` has prepared the config)."""
        if self._port is None:
            raise SynapseHarnessError("port not chosen yet: call start() first")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def is_running(self) -> bool:
        """True while the process exists (also while paused with SIGSTOP)."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def config_path(self) -> Path:
        return self._data_dir / CONFIG_NAME

    @property
    def log_path(self) -> Path:
        """Synapse's own log (level ``options.log_level``)."""
        return self._data_dir / SYNAPSE_LOG_NAME

    @property
    def stdout_log_path(self) -> Path:
        """stdout/stderr of the process: start-up failures land here."""
        return self._data_dir / STDOUT_LOG_NAME

    # ----------------------------------------------------------------- lifecycle

    # The timeouts below are not cancellation scopes: they bound several phases or
    # decide when to escalate SIGTERM to SIGKILL, hence ASYNC109 is silenced.
    async def start(self, timeout: float = 60) -> None:
        """Generate/patch the config if needed, spawn Synapse and wait until it serves.

        Raises :class:`SynapseHarnessError` (a ``RuntimeError``) with the tail of the
        logs if the process exits early or does not answer within ``timeout`` seconds.
        """
        if self.is_running:
            raise SynapseHarnessError(f"Synapse already running (pid {self.pid})")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        started = loop.time()

        self._data_dir.mkdir(parents=True, exist_ok=True)
        if not self.config_path.exists():
            await self._generate_config(limit=max(1.0, deadline - loop.time()))
            fresh = True
        else:
            fresh = False
        await asyncio.to_thread(self._patch_config, fresh)

        self._spawn()
        try:
            await self._wait_until_ready(deadline)
        except BaseException:
            await self._force_kill()
            raise
        logger.info(
            "Synapse %s up on %s (pid %s) in %.2fs",
            self.server_name,
            self.base_url,
            self.pid,
            loop.time() - started,
        )

    async def stop(self, timeout: float = 15) -> None:
        """SIGTERM and wait for a clean shutdown; SIGKILL if it takes longer than ``timeout``."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self._signal(signal.SIGTERM)
            if self._paused:
                # A stopped process only acts on SIGTERM once it runs again.
                self._signal(signal.SIGCONT)
                self._paused = False
            if not await self._wait_exit(timeout):
                logger.warning("Synapse pid %s ignored SIGTERM for %.1fs; killing", proc.pid, timeout)
                await self._force_kill()
        self._forget_process()

    async def kill(self) -> None:
        """SIGKILL: simulate a crash (no clean shutdown, no flushed caches)."""
        await self._force_kill()

    def pause(self) -> None:
        """SIGSTOP: the port stays open but nothing answers (hung-connection tests)."""
        self._require_running()
        self._signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        self._require_running()
        self._signal(signal.SIGCONT)
        self._paused = False

    async def restart(self, timeout: float = 60) -> None:
        """Stop (cleanly) and start again on the same directory and, if free, port."""
        await self.stop()
        await self.start(timeout=timeout)

    async def __aenter__(self) -> LocalSynapse:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ accounts

    async def register_user(self, localpart: str, password: str, admin: bool = False) -> str:
        """Create a user through the shared-secret admin API; return ``@localpart:server``.

        An existing user (``M_USER_IN_USE``) is not an error, so repeated demo runs
        on the same directory reuse their accounts. The admin flag of an existing
        user is left unchanged.
        """
        body = await self.register_account(localpart, password, admin)
        return str(body.get("user_id", f"@{localpart}:{self.server_name}"))

    async def register_account(
        self,
        localpart: str,
        password: str,
        admin: bool = False,
        session: aiohttp.ClientSession | None = None,
    ) -> dict[str, Any]:
        """:meth:`register_user`, returning Synapse's answer: a new account comes with
        an ``access_token`` and a ``device_id`` (no separate login needed, which matters
        when a benchmark creates thousands); an existing one with ``user_id`` alone.
        ``session`` reuses the caller's connection pool."""
        if session is None:
            async with aiohttp.ClientSession(timeout=_HTTP_TIMEOUT) as own:
                return await self.register_account(localpart, password, admin, own)
        user_id = f"@{localpart}:{self.server_name}"
        secret = self._registration_secret()
        url = f"{self.base_url}/_synapse/admin/v1/register"
        async with session.get(url) as resp:
            nonce_body = await self._json_or_raise(resp, "fetch registration nonce")
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
            body = await self._read_json(resp)
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
        url = f"{self.base_url}/_matrix/client/v3/login"
        async with aiohttp.ClientSession(timeout=_HTTP_TIMEOUT) as session:
            async with session.post(url, json=payload) as resp:
                return await self._json_or_raise(resp, f"login as {user_id}")

    # ------------------------------------------------------------------ internals

    async def _generate_config(self, limit: float) -> None:
        """Let Synapse write its own config, signing key and secrets (first run only)."""
        cmd = [
            sys.executable,
            "-m",
            "synapse.app.homeserver",
            "--server-name",
            self.server_name,
            "--config-path",
            str(self.config_path),
            "--generate-config",
            "--report-stats=no",
        ]
        logger.debug("generating Synapse config in %s", self._data_dir)
        try:
            result = await asyncio.to_thread(
                subprocess.run,
                cmd,
                cwd=self._data_dir,
                stdin=subprocess.DEVNULL,
                env=self._child_env(),
                capture_output=True,
                text=True,
                timeout=limit,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise SynapseHarnessError(f"synapse --generate-config took longer than {limit:.0f}s") from exc
        if result.returncode != 0 or not self.config_path.exists():
            # Remove a half-written config so the next attempt regenerates it.
            self.config_path.unlink(missing_ok=True)
            raise SynapseHarnessError(
                f"synapse --generate-config failed (exit {result.returncode}):\n"
                f"{result.stdout[-2000:]}{result.stderr[-4000:]}"
            )

    def _patch_config(self, fresh: bool) -> None:
        """Apply the harness settings to ``homeserver.yaml`` (idempotent, every start)."""
        opts = self.options
        config: dict[str, Any] = yaml.safe_load(self.config_path.read_text("utf-8")) or {}

        if config.get("server_name", opts.server_name) != opts.server_name:
            raise SynapseHarnessError(
                f"{self.config_path} belongs to server {config['server_name']!r}, "
                f"not {opts.server_name!r}; use another data_dir"
            )

        self._port = self._choose_port(config)

        config["listeners"] = [
            {
                "port": self._port,
                "bind_addresses": [LOOPBACK],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ]
        config["public_baseurl"] = f"http://{LOOPBACK}:{self._port}/"
        if fresh or not config.get("registration_shared_secret"):
            config["registration_shared_secret"] = secrets.token_urlsafe(32)
        config["enable_registration"] = False
        config["trusted_key_servers"] = []
        config["suppress_key_server_warning"] = True
        config["federation_domain_whitelist"] = []
        config["presence"] = {"enabled": False}
        config["report_stats"] = False
        config["url_preview_enabled"] = False
        config["max_upload_size"] = "10M"
        config["media_store_path"] = str(self._data_dir / "media_store")
        config["database"] = opts.database or {
            "name": "sqlite3",
            "args": {"database": str(self._data_dir / "homeserver.db")},
        }
        config["pid_file"] = str(self._data_dir / "homeserver.pid")
        config["signing_key_path"] = str(self._data_dir / f"{opts.server_name}.signing.key")

        if opts.fast_hashing:
            config["bcrypt_rounds"] = 4
        else:
            config.pop("bcrypt_rounds", None)

        if opts.default_room_version is not None:
            config["default_room_version"] = opts.default_room_version
        else:
            config.pop("default_room_version", None)

        # Drop every rate-limit override first so that switching a directory from
        # relaxed to default limits really restores Synapse's defaults.
        for key in [k for k in config if k.startswith("rc_")]:
            del config[key]
        if opts.relaxed_rate_limits:
            for dotted in _RATE_LIMIT_KEYS:
                node = config
                *parents, leaf = dotted.split(".")
                for part in parents:
                    node = node.setdefault(part, {})
                node[leaf] = dict(_RELAXED)

        log_config_path = self._data_dir / LOG_CONFIG_NAME
        log_config_path.write_text(self._log_config(), encoding="utf-8")
        config["log_config"] = str(log_config_path)

        header = "# Managed by bot.devtools.synapse: rewritten on every start.\n"
        self.config_path.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self._shared_secret = str(config["registration_shared_secret"])

    def _choose_port(self, config: dict[str, Any]) -> int:
        """Explicit option > previous port of this data_dir if still free > a new free port."""
        if self.options.port is not None:
            return self.options.port
        previous: int | None = None
        for listener in config.get("listeners") or []:
            if isinstance(listener, dict) and isinstance(listener.get("port"), int):
                previous = listener["port"]
                break
        # 8008 is only Synapse's generated default, never a port we chose: skip it.
        if previous is not None and previous != 8008 and _port_is_free(previous):
            return previous
        if previous is not None and previous != 8008:
            logger.info("previous Synapse port %s is taken; picking another", previous)
        return free_port()

    def _log_config(self) -> str:
        """A logging config that writes only to ``homeserver.log``, never to the console."""
        level = self.options.log_level.upper()
        if level not in logging.getLevelNamesMapping():
            raise SynapseHarnessError(f"unknown log level {self.options.log_level!r}")
        # synapse.storage.SQL at DEBUG would log access tokens: never below INFO.
        sql_level = level if logging.getLevelName(level) >= logging.INFO else "INFO"
        log_config = {
            "version": 1,
            "formatters": {
                "precise": {
                    "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s"
                    " - %(request)s - %(message)s"
                }
            },
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "precise",
                    "filename": str(self.log_path),
                    "encoding": "utf8",
                }
            },
            "loggers": {"synapse.storage.SQL": {"level": sql_level}},
            "root": {"level": level, "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
        return yaml.safe_dump(log_config, sort_keys=False)

    def _registration_secret(self) -> str:
        if self._shared_secret is None:
            config = yaml.safe_load(self.config_path.read_text("utf-8")) or {}
            self._shared_secret = str(config["registration_shared_secret"])
        return self._shared_secret

    def _child_env(self) -> dict[str, str]:
        """Environment for Synapse processes: ours, plus a bytecode cache if enabled.

        With ``PYTHONDONTWRITEBYTECODE`` set (as on the shared machines), importing
        Synapse costs about 2.7 s per start instead of about 1.3 s with cached bytecode.
        ``PYTHONPYCACHEPREFIX`` keeps those files out of the virtualenv.
        """
        env = dict(os.environ)
        if self.options.bytecode_cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            if not env.get("PYTHONPYCACHEPREFIX"):
                try:
                    cache_dir = _bytecode_cache_dir()
                    cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                except (OSError, RuntimeError) as exc:
                    logger.debug("no bytecode cache (%s); Synapse starts slower", exc)
                    env["PYTHONDONTWRITEBYTECODE"] = "1"
                else:
                    env["PYTHONPYCACHEPREFIX"] = str(cache_dir)
        return env

    def _spawn(self) -> None:
        """Start the homeserver in its own session so signals reach only it."""
        cmd = [
            sys.executable,
            "-m",
            "synapse.app.homeserver",
            "--config-path",
            str(self.config_path),
        ]
        with self.stdout_log_path.open("ab") as out:
            out.write(f"\n==== starting Synapse on {self.base_url} ====\n".encode())
            out.flush()
            self._proc = subprocess.Popen(
                cmd,
                cwd=self._data_dir,
                stdin=subprocess.DEVNULL,
                env=self._child_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._paused = False
        _LIVE_PROCESSES.add(self._proc)
        logger.debug("spawned Synapse pid %s", self._proc.pid)

    async def _wait_until_ready(self, deadline: float) -> None:
        """Poll ``/_matrix/client/versions`` until 200, the process dies or time runs out."""
        loop = asyncio.get_running_loop()
        url = f"{self.base_url}/_matrix/client/versions"
        probe_timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=probe_timeout) as session:
            while True:
                proc = self._proc
                if proc is None or proc.poll() is not None:
                    code = proc.returncode if proc is not None else None
                    raise SynapseHarnessError(
                        f"Synapse exited with code {code} during start-up\n{self._log_tails()}"
                    )
                try:
                    async with session.get(url) as resp:
                        if resp.status == 200:
                            return
                except (TimeoutError, aiohttp.ClientError):
                    pass
                if loop.time() >= deadline:
                    raise SynapseHarnessError(f"Synapse did not answer {url} in time\n{self._log_tails()}")
                await asyncio.sleep(_POLL_INTERVAL)

    def _log_tails(self) -> str:
        return (
            f"--- {self.stdout_log_path} (tail) ---\n{_tail(self.stdout_log_path)}"
            f"--- {self.log_path} (tail) ---\n{_tail(self.log_path)}"
        )

    async def _wait_exit(self, limit: float) -> bool:
        """Poll until the process has exited (and is reaped); False on timeout."""
        proc = self._proc
        if proc is None:
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while proc.poll() is None:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(_POLL_INTERVAL)
        return True

    async def _force_kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self._signal(signal.SIGKILL)
            if not await self._wait_exit(10):
                raise SynapseHarnessError(f"Synapse pid {proc.pid} survived SIGKILL")
        self._forget_process()

    def _forget_process(self) -> None:
        if self._proc is not None:
            _LIVE_PROCESSES.discard(self._proc)
        self._proc = None
        self._paused = False

    def _signal(self, sig: signal.Signals) -> None:
        """Signal the whole process group (Synapse leads its own session)."""
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)

    def _require_running(self) -> None:
        if not self.is_running:
            raise SynapseHarnessError("Synapse is not running")

    @staticmethod
    async def _read_json(resp: aiohttp.ClientResponse) -> dict[str, Any]:
        try:
            body = await resp.json(content_type=None)
        except (ValueError, aiohttp.ContentTypeError):
            return {"raw": await resp.text()}
        return body if isinstance(body, dict) else {"value": body}

    async def _json_or_raise(self, resp: aiohttp.ClientResponse, what: str) -> dict[str, Any]:
        body = await self._read_json(resp)
        if resp.status != 200:
            raise SynapseHarnessError(
                f"{what} failed: HTTP {resp.status} {body}", status=resp.status, body=body
            )
        return body
