"""Shared fixtures: a real app (real database, real catalogues, real router) behind a
recording transport.

The database is a SQLite file, or a fresh database on a real PostgreSQL server that
the test session starts itself (``bot.devtools.postgres``). Tests marked
``both_databases`` run once on each (ids ``[sqlite]`` and ``[postgresql]``);
``KENNISBRUG_TEST_DATABASES=sqlite`` limits them to SQLite.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import App, build_app
from bot.clock import FakeClock
from bot.devtools.postgres import LocalPostgres, PostgresUnavailable
from bot.ids import RoomId
from bot.storage import Base, Database
from bot.storage.migrate import migrate
from tests.fakes import FakeTransport, make_config

DATABASE_KINDS = ("sqlite", "postgresql")
_TEMPLATE = "kennisbrug_template"


def enabled_databases() -> list[str]:
    wanted = os.environ.get("KENNISBRUG_TEST_DATABASES", ",".join(DATABASE_KINDS))
    kinds = [kind.strip() for kind in wanted.split(",") if kind.strip()]
    unknown = set(kinds) - set(DATABASE_KINDS)
    if unknown or not kinds:
        raise pytest.UsageError(f"KENNISBRUG_TEST_DATABASES: unknown {sorted(unknown)}; use sqlite,postgresql")
    return kinds


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_databases: runs on SQLite and on PostgreSQL (the db_url fixture is parametrised)"
    )
    config.addinivalue_line("markers", "postgresql_only: shows what only a PostgreSQL server does")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_kind" not in metafunc.fixturenames:
        return
    enabled = enabled_databases()
    if metafunc.definition.get_closest_marker("postgresql_only"):
        skip = pytest.mark.skip(reason="KENNISBRUG_TEST_DATABASES leaves PostgreSQL out")
        marks = () if "postgresql" in enabled else (skip,)
        metafunc.parametrize(
            "database_kind", [pytest.param("postgresql", marks=marks)], indirect=True, ids=["postgresql"]
        )
    elif metafunc.definition.get_closest_marker("both_databases"):
        metafunc.parametrize("database_kind", enabled, indirect=True, ids=enabled)


@dataclass
class PostgresForTests:
    """The session's server, its migrated template database and a name counter."""

    server: LocalPostgres
    template_ready: bool = False
    names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    async def fresh_database(self, *, empty: bool = False) -> str:
        """A new database: a copy of the migrated template, or ``empty``."""
        name = f"test_{os.getpid()}_{next(self.names)}"
        if empty:
            await self.server.create_database(name)
            return name
        if not self.template_ready:
            await self.server.create_database(_TEMPLATE)
            template = Database(self.server.url(_TEMPLATE))
            await migrate(template)
            await template.dispose()
            self.template_ready = True
        await self.server.create_database(name, template=_TEMPLATE)
        return name


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresForTests]:
    """A PostgreSQL server on 127.0.0.1, started at first use and stopped at the end."""
    try:
        server = LocalPostgres()
        server.start()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL not available ({exc}); run `make postgres-server`")
    try:
        yield PostgresForTests(server)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[LocalPostgres]:
    """A server of the module's own, which its tests may stop and start (an outage) without
    touching the shared one; its port stays once started, so a bot's URL stays valid."""
    try:
        server = LocalPostgres()
        server.start()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL not available ({exc}); run `make postgres-server`")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def database_kind(request: pytest.FixtureRequest) -> str:
    """``sqlite`` unless the test is marked to run on PostgreSQL."""
    return str(getattr(request, "param", "sqlite"))


async def _database_url(request: pytest.FixtureRequest, kind: str, path: Path, empty: bool) -> AsyncIterator[str]:
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{path}"
        return
    postgres: PostgresForTests = request.getfixturevalue("postgres_server")
    name = await postgres.fresh_database(empty=empty)
    yield postgres.server.url(name)
    await postgres.server.drop_database(name)


@pytest.fixture
async def db_url(request: pytest.FixtureRequest, database_kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a database for one test; on PostgreSQL it is already migrated."""
    async for url in _database_url(request, database_kind, tmp_path / "bot.db", empty=False):
        yield url


@pytest.fixture
async def empty_db_url(request: pytest.FixtureRequest, database_kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a database without any table (for the migrations)."""
    async for url in _database_url(request, database_kind, tmp_path / "empty.db", empty=True):
        yield url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A real database with every table, for tests of one service."""
    database = Database(db_url)
    if database.is_sqlite:
        async with database.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
    # A PostgreSQL test database is a copy of the migrated template: tables are there.
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2027, 3, 16, 9, 0, tzinfo=UTC))


@pytest.fixture
async def app(tmp_path: Path, clock: FakeClock, db_url: str) -> AsyncIterator[App]:
    config = make_config(tmp_path, database={"url": db_url})
    built = await build_app(config, clock=clock, transport_factory=FakeTransport)
    built.services.rooms.set("welcome", RoomId("!welcome"))
    built.services.rooms.set("events", RoomId("!events"))
    built.services.rooms.set("theme:buikpijndossiers", RoomId("!buikpijn"))
    yield built
    await built.stop()


@pytest.fixture
def transport(app: App) -> FakeTransport:
    assert isinstance(app.transport, FakeTransport)
    return app.transport


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """`make test` runs the suite on two workers (pytest-xdist, the machine's two cores).
    The real-homeserver tests go to one worker together, so one Synapse serves them, and
    the unit test modules fill the other core (and this one, once the homeserver's tests
    are done). xdist's own ``--dist loadgroup`` cannot do it with pytest 9.2, whose node
    ids no longer take xdist's group suffix."""
    from xdist.scheduler import LoadScopeScheduling

    class HomeserverTestsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith("tests/integration/"):
                return "homeserver"
            return nodeid.split("::", 1)[0]  # a unit test module, with its module fixtures

    return HomeserverTestsTogether(config, log)
