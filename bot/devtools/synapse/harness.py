"""The harness itself: :class:`LocalSynapse`, one homeserver process on one data directory.

It composes the configuration (:mod:`.homeserver_config`), the process
(:mod:`.process`) and the accounts (:mod:`.accounts`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from bot.devtools.synapse.accounts import HTTP_TIMEOUT, Accounts
from bot.devtools.synapse.homeserver_config import HomeserverConfig
from bot.devtools.synapse.options import LOOPBACK, STDOUT_LOG_NAME, SynapseHarnessError, SynapseOptions
from bot.devtools.synapse.process import HomeserverProcess, child_env, tail

logger = logging.getLogger(__name__)


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
        self._config = HomeserverConfig(self._data_dir, options)
        self._process = HomeserverProcess()

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
        return self._process.pid

    @property
    def is_running(self) -> bool:
        """True while the process exists (also while paused with SIGSTOP)."""
        return self._process.is_running

    @property
    def config_path(self) -> Path:
        return self._config.path

    @property
    def log_path(self) -> Path:
        """Synapse's own log (level ``options.log_level``)."""
        return self._config.log_path

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
        env = child_env(self.options)
        if not self.config_path.exists():
            await self._config.generate(limit=max(1.0, deadline - loop.time()), env=env)
            fresh = True
        else:
            fresh = False
        self._port = await asyncio.to_thread(self._config.patch, fresh)

        self._process.spawn(self.config_path, self._data_dir, self.stdout_log_path, env, self.base_url)
        try:
            await self._process.wait_until_ready(self.base_url, deadline, self._log_tails)
        except BaseException:
            await self._process.force_kill()
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
        process = self._process
        proc = process.proc
        if proc is None:
            return
        if proc.poll() is None:
            process.send_signal(signal.SIGTERM)
            if process.paused:
                # A stopped process only acts on SIGTERM once it runs again.
                process.send_signal(signal.SIGCONT)
                process.paused = False
            if not await process.wait_exit(timeout):
                logger.warning("Synapse pid %s ignored SIGTERM for %.1fs; killing", proc.pid, timeout)
                await process.force_kill()
        process.forget()

    async def kill(self) -> None:
        """SIGKILL: simulate a crash (no clean shutdown, no flushed caches)."""
        await self._process.force_kill()

    def pause(self) -> None:
        """SIGSTOP: the port stays open but nothing answers (hung-connection tests)."""
        self._require_running()
        self._process.send_signal(signal.SIGSTOP)
        self._process.paused = True

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        self._require_running()
        self._process.send_signal(signal.SIGCONT)
        self._process.paused = False

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
            async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as own:
                return await self.register_account(localpart, password, admin, own)
        return await self._accounts().register(localpart, password, admin, session)

    async def login(self, user_id: str, password: str, device_id: str | None = None) -> dict[str, Any]:
        """Password login via ``/_matrix/client/v3/login``; return the response JSON.

        Handy when a test needs a raw ``access_token``/``device_id`` without a client
        library. A non-200 answer raises :class:`SynapseHarnessError` with the body.
        """
        return await self._accounts().login(user_id, password, device_id)

    # ------------------------------------------------------------------ internals

    def _accounts(self) -> Accounts:
        return Accounts(self.base_url, self.server_name, self._config.registration_secret())

    def _log_tails(self) -> str:
        return (
            f"--- {self.stdout_log_path} (tail) ---\n{tail(self.stdout_log_path)}"
            f"--- {self.log_path} (tail) ---\n{tail(self.log_path)}"
        )

    def _require_running(self) -> None:
        if not self.is_running:
            raise SynapseHarnessError("Synapse is not running")
