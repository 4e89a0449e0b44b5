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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_databases"):
        kinds = enabled_databases()
        metafunc.parametrize("db_url", kinds, indirect=True, ids=kinds)


@dataclass
class PostgresForTests:
    """The session's server, its migrated template database and a name counter."""

    server: LocalPostgres
    template_ready: bool = False
    names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    async def fresh_database(self) -> str:
        if not self.template_ready:
            await self.server.create_database(_TEMPLATE)
            template = Database(self.server.url(_TEMPLATE))
            await migrate(template)
            await template.dispose()
            self.template_ready = True
        name = f"test_{os.getpid()}_{next(self.names)}"
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


@pytest.fixture
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database for one test; SQLite unless parametrised."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        return
    postgres: PostgresForTests = request.getfixturevalue("postgres_server")
    name = await postgres.fresh_database()
    yield postgres.server.url(name)
    await postgres.server.drop_database(name)


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
