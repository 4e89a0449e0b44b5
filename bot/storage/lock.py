"""One bot per database: a second process on the same database refuses to start.

Two bots on one database would both send every reminder. SQLite gets an operating
system lock on a file beside the database, PostgreSQL a session advisory lock; both are
released by the operating system or the server when the process dies, however it dies,
so a restart after a crash never waits for a lease to run out.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
from pathlib import Path
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.errors import KennisbrugError
from bot.storage.database import Database, database_unavailable

log = logging.getLogger(__name__)

# An arbitrary, fixed 64-bit key for pg_try_advisory_lock.
_PG_LOCK_KEY = 0x4B454E4E4953  # "KENNIS"


class AlreadyRunning(KennisbrugError):
    """Another bot process holds the database."""


class InstanceLock:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._file: IO[str] | None = None
        self._pg_conn: Any = None
        self._holding = False  # a PostgreSQL lock this process took and has not released

    def _lock_path(self) -> Path | None:
        database = make_url(self._db.url).database
        if not database or database == ":memory:":
            return None
        return Path(database).expanduser().resolve().with_name(Path(database).name + ".lock")

    async def acquire(self) -> None:
        """Take the lock or raise :class:`AlreadyRunning` naming who holds it."""
        if self._db.is_sqlite:
            self._acquire_file()
        else:
            await self._acquire_advisory()

    def _acquire_file(self) -> None:
        path = self._lock_path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise AlreadyRunning(
                f"another Kennisbrug bot is already running on this database ({holder}); "
                f"stop it first, or give this one its own database (lock file {path})"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        self._file = handle

    async def _acquire_advisory(self) -> None:
        conn = await self._db.engine.connect()
        locked = (
            await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
        ).scalar()
        await conn.commit()
        if not locked:
            await conn.close()
            raise AlreadyRunning(
                "another Kennisbrug bot is already running on this database (PostgreSQL advisory "
                "lock held); stop it first, or give this one its own database"
            )
        self._pg_conn = conn  # the lock lives as long as this session
        self._holding = True

    async def keep(self) -> None:
        """Take the PostgreSQL lock again when a server restart ended its session.

        The server forgets a session's advisory locks when the session ends; without
        this, a second bot could start while the first runs on after the restart.
        Called now and then (the heartbeat); while the server is still away it raises
        the outage, and the next call tries again.
        """
        if not self._holding:
            return
        if self._pg_conn is not None:
            try:
                await self._pg_conn.execute(text("SELECT 1"))
                await self._pg_conn.commit()
                return
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
            with contextlib.suppress(Exception):
                await self._pg_conn.invalidate()
            self._pg_conn = None
        try:
            await self._acquire_advisory()
        except AlreadyRunning:
            log.error("another bot took this database's lock while the database restarted; stop one of them")
            return
        log.info("instance lock taken again after the database came back")

    async def release(self) -> None:
        self._holding = False
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._pg_conn is not None:
            conn, self._pg_conn = self._pg_conn, None
            # Closing only hands the connection back to the pool, where the server
            # session (and with it the advisory lock) lives on: unlock explicitly,
            # and if that fails, drop the connection so the server ends the session.
            try:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
                await conn.commit()
            except Exception:
                with contextlib.suppress(Exception):
                    await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()
