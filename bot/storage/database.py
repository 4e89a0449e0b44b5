"""The database service: one async engine, a session per unit of work.

SQLite is the default. Under concurrent read-modify-write, aiosqlite with default
settings silently lost updates and plain ``BEGIN`` raised "database is locked"; WAL,
``BEGIN IMMEDIATE`` for writes and a busy timeout gave correct results, so writes go
through :meth:`Database.transaction`, which takes the write lock up front.
PostgreSQL (asyncpg) needs none of that and uses the ordinary transaction; where two
writers could pick the same row it takes row locks (``SELECT … FOR UPDATE``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

log = logging.getLogger(__name__)

_BUSY_TIMEOUT_MS = 30_000

# asyncpg names the value it could not encode ("invalid input for query argument $1:
# '@member:server' (...)"), and the reason may quote it again: all of it goes.
_DRIVER_BOUND_VALUE = re.compile(r"(query argument \$\d+)\b.*", re.DOTALL)
# PostgreSQL's DETAIL quotes stored values: "Key (user_id)=(@member:server) already
# exists.", "Failing row contains (...)". The key's column names are worth keeping.
_SERVER_DETAIL = re.compile(r"DETAIL:\s+(.*)")
_KEY_COLUMNS = re.compile(r"^Key \(([^)]*)\)=")


def _clean_detail(detail: str) -> str:
    key = _KEY_COLUMNS.match(detail)
    return f"Key ({key.group(1)}) [value hidden]" if key else "[detail hidden]"


def _clean_message(text: str) -> str:
    text = _DRIVER_BOUND_VALUE.sub(r"\1 [value hidden]", text)
    return _SERVER_DETAIL.sub(lambda m: "DETAIL:  " + _clean_detail(m.group(1)), text)


def _hide_bound_values(exc: BaseException | None) -> None:
    """Strip stored and bound values from an exception's message and its causes'."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc.args = tuple(_clean_message(arg) if isinstance(arg, str) else arg for arg in exc.args)
        detail = getattr(exc, "detail", None)
        if isinstance(detail, str):  # asyncpg's server errors add it to their text
            exc.detail = _clean_detail(detail)  # type: ignore[attr-defined]
        exc = exc.__cause__ or exc.__context__


class DatabaseUnavailable(ConnectionError):
    """The database server cannot be reached (down, restarting): wait and try again.

    Raised in place of the driver's connection error, so that callers can tell an outage
    from a bug; an ``OSError`` still, so start-up reports it as before.
    """


def _asyncpg_connection_errors() -> tuple[type[BaseException], ...]:
    try:
        import asyncpg
    except ImportError:  # an SQLite-only install
        return ()
    return (
        asyncpg.PostgresConnectionError,  # SQLSTATE class 08
        asyncpg.CannotConnectNowError,  # "the database system is starting up"
        asyncpg.AdminShutdownError,  # the server stops: "terminating connection"
        asyncpg.CrashShutdownError,
        asyncpg.ConnectionDoesNotExistError,  # "connection was closed in the middle of operation"
    )


def database_unavailable(exc: BaseException | None) -> bool:
    """True when ``exc`` (or what caused it) says the database server is out of reach."""
    from sqlalchemy.exc import DBAPIError

    connection_errors = _asyncpg_connection_errors()
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (DatabaseUnavailable, *connection_errors)):
            return True
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def log_failure(
    logger: logging.Logger, exc: BaseException, message: str, *args: object, level: int = logging.WARNING
) -> None:
    """Log a failure that a loop survives, with its traceback, unless it is a database
    outage: the database logs that once when the server goes and once when it is back,
    however many statements fail in between."""
    if not database_unavailable(exc):
        logger.log(level, message, *args, exc_info=exc)


class _Outage:
    """One warning when the server goes away and one line when it is back, however many
    statements fail in between (the sync loop, the outbox and the scheduler all retry)."""

    def __init__(self) -> None:
        self.since: float | None = None
        # Before the first connection there is no outage to wait out: a server that is
        # down at start-up is the start-up's one-line error (bot/cli.py).
        self.connected_once = False

    def lost(self, reason: BaseException) -> None:
        if self.since is None and self.connected_once:
            self.since = time.monotonic()
            text = " ".join(str(reason).split()) or type(reason).__name__
            log.warning("database unreachable (%s); waiting for it, nothing is lost meanwhile", text)

    def back(self) -> None:
        self.connected_once = True
        if self.since is not None:
            log.warning("database reconnected after %.0f s", time.monotonic() - self.since)
            self.since = None


def dialect_insert(dialect: str) -> Any:
    """SQLite's or PostgreSQL's INSERT construct (both have ``on_conflict_do_*``)."""
    return postgresql_insert if dialect == "postgresql" else sqlite_insert


class Database:
    """Owns the engine; hands out sessions for reads and immediate transactions for writes."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        # Bound values (user ids, message text) never appear in logged or raised
        # database errors; the statement and its placeholders are enough to debug.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if self.is_sqlite:
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            # Pooled connections: opening one (and setting its pragmas) costs about 3 ms,
            # more than the query. WAL lets pooled readers run beside the single writer.
            kwargs["pool_size"] = 5
            kwargs["max_overflow"] = 10
            kwargs["connect_args"] = {"timeout": _BUSY_TIMEOUT_MS / 1000, "isolation_level": None}
        else:
            # A connection the server dropped (a restart, an idle timeout) is noticed
            # and replaced at checkout instead of failing the next statement.
            kwargs["pool_pre_ping"] = True
            # The outbox holds a connection per send in flight (its row lock), up to
            # its concurrency; the rest of the bot must still get one meanwhile.
            kwargs["pool_size"] = 10
            kwargs["max_overflow"] = 60
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            self._install_sqlite_pragmas()
        event.listen(self.engine.sync_engine, "handle_error", self._on_error)
        self._outage = _Outage()
        if not self.is_sqlite:
            event.listen(self.engine.sync_engine, "do_connect", self._connect)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    def _on_error(self, context: Any) -> None:
        # hide_parameters keeps the values out of SQLAlchemy's part of the message;
        # the driver's own text is cleaned here, before anything logs or raises it.
        _hide_bound_values(context.original_exception)
        _hide_bound_values(context.sqlalchemy_exception)
        if context.is_disconnect and not self.is_sqlite:
            self._outage.lost(context.original_exception)

    def _connect(self, dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        """Open a server connection; a refusal becomes :class:`DatabaseUnavailable`."""
        try:
            connection = dialect.connect(*cargs, **cparams)
        except Exception as exc:
            if not database_unavailable(exc) and not isinstance(exc, OSError):
                raise  # a wrong password or database name is no outage
            self._outage.lost(exc)
            raise DatabaseUnavailable(" ".join(str(exc).split()) or type(exc).__name__) from exc
        self._outage.back()
        return connection

    @property
    def unreachable(self) -> bool:
        """True from a lost connection until the next one opens."""
        return self._outage.since is not None

    async def wait_until_reachable(self, stop: asyncio.Event | None = None, poll_s: float = 1.0) -> bool:
        """Wait until a connection opens again (quietly: the outage logs once); False
        when ``stop`` was set first."""
        from sqlalchemy import text

        while stop is None or not stop.is_set():
            try:
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
                return True
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
            if stop is None:
                await asyncio.sleep(poll_s)
            else:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=poll_s)
                except TimeoutError:
                    pass
        return False

    def _install_sqlite_pragmas(self) -> None:
        @event.listens_for(self.engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        # With isolation_level=None the driver does not open transactions itself; we
        # say BEGIN (deferred, for reads) or BEGIN IMMEDIATE (for writes) ourselves.
        @event.listens_for(self.engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            options = conn.get_execution_options()
            if options.get("kennisbrug_single_statement", False):
                return  # SQLite runs a lone statement as its own transaction
            conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("kennisbrug_write", False) else "BEGIN")

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for reading (and for writes that tolerate a deferred lock)."""
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction, committed on success and rolled back on error.

        On SQLite it starts with ``BEGIN IMMEDIATE`` so two writers never both read
        stale rows and then collide.
        """
        async with self._sessions() as session, session.begin():
            if self.is_sqlite:
                # Options given here reach the connection before its BEGIN runs.
                await session.connection(execution_options={"kennisbrug_write": True})
            yield session

    def insert(self, table: Any) -> Any:
        """An INSERT that knows ``ON CONFLICT`` on this database's dialect."""
        return dialect_insert(self.engine.dialect.name)(table)

    async def execute_one(self, statement: Any) -> Any:
        """Run one data-changing statement atomically and commit it; returns its result.

        On SQLite a lone statement is its own transaction, so no BEGIN/COMMIT pair is
        sent: two fewer trips to the database thread on hot paths (claiming an event).
        """
        async with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = await conn.execution_options(kennisbrug_single_statement=True)
            result = await conn.execute(statement)
            await conn.commit()
            return result

    async def ping(self) -> bool:
        """True when a trivial query succeeds (used by the health report)."""
        from sqlalchemy import text

        try:
            async with self.session() as session:
                await session.execute(text("SELECT 1"))
            return True
        except Exception:  # health must report, never raise
            log.warning("database ping failed", exc_info=True)
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()
