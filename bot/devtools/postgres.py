"""A real, local PostgreSQL server for the test suite and the benchmarks.

The bot is written for SQLite and PostgreSQL; only a real server shows what PostgreSQL
does differently (types, ordering, row locks, reconnecting after a restart). This
module runs the distribution's own binaries (Debian's ``postgresql`` package puts them
in ``/usr/lib/postgresql/<version>/bin``) on a throw-away data directory, listening on
127.0.0.1 at a free port only.

Typical use::

    with LocalPostgres() as server:
        await server.create_database("t1")
        db = Database(server.url("t1"))

Design notes:

* Everything is synchronous ``subprocess`` work (``initdb``, ``pg_ctl``), so one
  server can outlive the event loops of many tests. Creating and dropping databases
  is async (asyncpg, which the bot already depends on).
* ``initdb`` refuses to run as root. As root, the server runs as the ``postgres``
  system user (or ``nobody``) through ``runuser``, and the data directory is handed
  to that user; as anyone else it runs as the caller.
* The server is for tests: ``fsync`` and synchronous commits are off (a crash loses
  the throw-away data, nothing else), authentication is ``trust`` on loopback only.
* An ``atexit`` hook stops a server the interpreter forgot (a crashed test session).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bot.devtools.synapse import free_port

__all__ = ["LocalPostgres", "PostgresOptions", "PostgresUnavailable", "find_binaries"]

LOOPBACK = "127.0.0.1"
SUPERUSER = "kennisbrug"
_SEARCH_ROOT = Path("/usr/lib/postgresql")
_LOG_NAME = "postgres.log"
_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

#: Settings for a disposable test server: durability off (the data is thrown away),
#: little memory (the machine is shared), enough connections for the pools of a
#: concurrency test (each Database may open 15).
_TEST_SETTINGS = {
    "listen_addresses": f"'{LOOPBACK}'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "32MB",
    "max_wal_size": "256MB",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",
    "timezone": "'UTC'",
    # asyncpg introspects types on every new connection; JIT makes that query slow.
    "jit": "off",
}


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries here, or the server would not start."""


def find_binaries(bin_dir: Path | None = None) -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: the newest installed version."""
    if bin_dir is not None:
        return bin_dir if (bin_dir / "initdb").exists() else None
    env = os.environ.get("KENNISBRUG_PG_BIN")
    if env:
        return find_binaries(Path(env))
    if _SEARCH_ROOT.is_dir():
        versions = sorted(
            (p for p in _SEARCH_ROOT.iterdir() if p.name.isdigit() and (p / "bin" / "initdb").exists()),
            key=lambda p: int(p.name),
        )
        if versions:
            return versions[-1] / "bin"
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


@dataclass(frozen=True)
class PostgresOptions:
    #: Where the data directory and log go; a fresh temporary directory when None,
    #: removed again by :meth:`LocalPostgres.stop`.
    base_dir: Path | None = None
    bin_dir: Path | None = None
    #: A fixed port, or None for a free one chosen at the first start (and kept, so a
    #: restart comes back where clients expect it).
    port: int | None = None


class LocalPostgres:
    def __init__(self, options: PostgresOptions | None = None) -> None:
        self.options = options or PostgresOptions()
        bin_dir = find_binaries(self.options.bin_dir)
        if bin_dir is None:
            raise PostgresUnavailable(
                "PostgreSQL binaries not found (install Debian's 'postgresql' package, "
                "or point KENNISBRUG_PG_BIN at the directory holding initdb and pg_ctl)"
            )
        self.bin_dir = bin_dir
        self._owned_base = self.options.base_dir is None
        self._base: Path | None = self.options.base_dir
        self._port: int | None = self.options.port
        self._run_as = _unprivileged_user()
        self._running = False

    @property
    def base_dir(self) -> Path:
        if self._base is None:
            self._base = Path(tempfile.mkdtemp(prefix="kennisbrug-pg-"))
        return self._base

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.base_dir / _LOG_NAME

    @property
    def port(self) -> int:
        if self._port is None:
            raise PostgresUnavailable("the server has not been started")
        return self._port

    @property
    def is_running(self) -> bool:
        return self._running

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{SUPERUSER}@{LOOPBACK}:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """The plain libpq/asyncpg form of :meth:`url`."""
        return self.url(database, driver="postgresql")

    # -- lifecycle ------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        if self._running:
            return
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        if self._port is None:
            self._port = free_port()
        options = f"-p {self._port} -k {self.base_dir}"
        result = self._run(
            [
                str(self.bin_dir / "pg_ctl"),
                "start",
                "-w",
                "-t",
                str(int(timeout)),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_path),
                "-o",
                options,
            ],
            timeout=timeout + 10,
        )
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"pg_ctl start failed: {result.stdout}{result.stderr}\n{self._log_tail()}"
            )
        self._running = True
        atexit.register(self._stop_at_exit)

    def stop(self, *, remove: bool = True, timeout: float = 30) -> None:
        """Stop the server (fast shutdown: clients are disconnected at once).

        With ``remove`` a temporary base directory made by this object is deleted.
        """
        if self._running:
            self._pg_ctl_stop("fast", timeout)
            self._running = False
            atexit.unregister(self._stop_at_exit)
        if remove and self._owned_base and self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None

    def restart(self, timeout: float = 60) -> None:
        self.stop(remove=False)
        self.start(timeout)

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- databases ------------------------------------------------------------------

    async def create_database(self, name: str, *, template: str | None = None) -> None:
        _check_name(name)
        sql = f'CREATE DATABASE "{name}"'
        if template is not None:
            _check_name(template)
            # A small template copies faster file by file than through the WAL.
            sql += f' TEMPLATE "{template}" STRATEGY FILE_COPY'
        await self.execute(sql)

    async def drop_database(self, name: str) -> None:
        _check_name(name)
        await self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def execute(self, sql: str, database: str = "postgres") -> None:
        import asyncpg

        conn = await asyncpg.connect(self.dsn(database))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    # -- internals ------------------------------------------------------------------

    def _initdb(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self._run_as is not None:
            uid, gid = self._run_as[1], self._run_as[2]
            os.chown(self.base_dir, uid, gid)
        self.base_dir.chmod(0o700)
        result = self._run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                # Byte order, like SQLite's default collation: ORDER BY agrees on both.
                "--locale=C",
                "--no-sync",
            ],
            timeout=120,
        )
        if result.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {result.stdout}{result.stderr}")
        config = self.data_dir / "postgresql.conf"
        with config.open("a", encoding="utf-8") as handle:
            handle.write("\n# kennisbrug test server\n")
            for key, value in _TEST_SETTINGS.items():
                handle.write(f"{key} = {value}\n")

    def _pg_ctl_stop(self, mode: str, timeout: float) -> None:
        pg_ctl = str(self.bin_dir / "pg_ctl")
        argv = [pg_ctl, "stop", "-w", "-m", mode, "-t", str(int(timeout)), "-D", str(self.data_dir)]
        result = self._run(argv, timeout=timeout + 10)
        if result.returncode != 0 and mode != "immediate":
            self._pg_ctl_stop("immediate", timeout)

    def _stop_at_exit(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()

    def _run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        if self._run_as is not None:
            argv = ["runuser", "-u", self._run_as[0], "--", *argv]
        # The server inherits no stdin and a neutral working directory the user can enter.
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
            stdin=subprocess.DEVNULL,
            check=False,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
        )

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def _unprivileged_user() -> tuple[str, int, int] | None:
    """Whom to run the server as when we are root (``initdb`` refuses root); None otherwise."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return name, entry.pw_uid, entry.pw_gid
    raise PostgresUnavailable("running as root and neither a 'postgres' nor a 'nobody' user exists")


def _check_name(name: str) -> None:
    # Database names are spliced into SQL (they cannot be bound parameters).
    if not _SAFE_NAME.match(name):
        raise ValueError(f"not a safe database name: {name!r}")

