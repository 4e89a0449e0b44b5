"""``copy-database``: a community from a real SQLite file to a real PostgreSQL server and
back, every table holding a row, every row arriving as it left."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, inspect, select

from bot.cli import main
from bot.database_copy import CopyError, TargetNotEmpty, copy_database, tables_to_copy
from bot.exit_codes import EXIT_ALREADY_RUNNING, EXIT_TARGET_NOT_EMPTY
from bot.matrix import state
from bot.storage import Database
from bot.storage.keyvalue import load, save
from bot.storage.lock import InstanceLock
from bot.storage.migrate import VERSION_TABLE, migrate
from tests.conftest import PostgresForTests

pytestmark = pytest.mark.postgresql_only

STORE_KEY = "matrix.store_key"
#: Tables given five rows, copied back in batches of two.
MANY_ROWS = ("core_outbox", "core_jobs", "events_events")
#: Explicit ids well above 1: a sequence left at 1 would hand out an id that exists.
FIRST_ID = 7


def _value(column: Any, index: int) -> Any:
    kind = getattr(column.type, "impl", column.type).python_type
    if kind is bool:
        return True
    if kind is int:
        return FIRST_ID + index
    if kind is float:
        return 1.5 + index
    if kind is datetime:
        return datetime(2027, 3, 16, 9, index, 30, tzinfo=UTC)
    if kind is date:
        return date(2027, 3, 16 + index)
    if kind in (dict, list):
        return {"k": f"v{index}", "n": [1, 2]}
    text = f"v{index}-{column.name}-é"
    length = getattr(column.type, "length", None)
    return text[:length] if length else text


def generated_row(table: Table, index: int, parents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A row for any table: each column by its type, a foreign key from its parent's row."""
    row: dict[str, Any] = {}
    for column in table.columns:
        foreign = next(iter(column.foreign_keys), None)
        if foreign is not None:
            row[column.name] = parents[foreign.column.table.name][foreign.column.name]
        else:
            row[column.name] = _value(column, index)
    return row


async def fill_every_table(db: Database) -> dict[str, dict[str, Any]]:
    """One generated row in every model table (so a new table is covered the day it exists),
    then the facts a move must keep, through the bot's own stores."""
    rows: dict[str, dict[str, Any]] = {}
    async with db.engine.begin() as conn:
        for table in tables_to_copy():
            if table.name == "core_state":
                continue  # below, the way the bot writes it
            rows[table.name] = generated_row(table, 0, rows)
            await conn.execute(table.insert(), [rows[table.name]])
            if table.name in MANY_ROWS:  # more rows than one batch of the copy back
                await conn.execute(table.insert(), [generated_row(table, i, rows) for i in (1, 2, 3, 4)])
    await state.save(db, {state.NEXT_BATCH: "s72594_4483_1934_sync-token", state.DEVICE_ID: "KBDEVICE"})
    await save(db, {STORE_KEY: "generated-store-key-0123456789abcdef"})
    return rows


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    async with db.engine.connect() as conn:
        for table in tables_to_copy():
            result = await conn.execute(select(table))
            found[table.name] = sorted((tuple(row) for row in result), key=repr)
    return found


async def table_names(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names())) - {VERSION_TABLE}


async def new_ids_follow_the_copied_ones(db: Database) -> None:
    """A row added after the copy, without an id, gets a fresh one in every serial table."""
    copied = await snapshot(db)
    async with db.engine.begin() as conn:
        tables = {t.name: t for t in tables_to_copy()}
        existing = {
            name: dict(zip([c.name for c in tables[name].columns], rows[0], strict=True))
            for name, rows in copied.items()
        }
        for table in tables.values():
            serial = [c for c in table.primary_key.columns if c.autoincrement is not False]
            if len(table.primary_key.columns) != 1 or not serial or serial[0].type.python_type is not int:
                continue
            row = generated_row(table, 9, existing)
            del row[serial[0].name]
            new_id = (await conn.execute(table.insert().values(row).returning(serial[0]))).scalar_one()
            assert new_id > FIRST_ID, f"{table.name}: the new row got id {new_id}"


async def test_a_community_moves_to_postgresql_and_back(
    database_kind: str, postgres_server: PostgresForTests, tmp_path: Path
) -> None:
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'kennisbrug.db'}"
    source = Database(sqlite_url)
    await migrate(source)
    await fill_every_table(source)
    before = await snapshot(source)
    assert await table_names(source) == set(before), "every table of the schema has a model"
    assert all(before.values()), [name for name, rows in before.items() if not rows]
    assert all(len(before[name]) == 5 for name in MANY_ROWS)
    await source.dispose()

    pg_url = postgres_server.server.url(await postgres_server.fresh_database(empty=True))
    seen: list[tuple[str, int]] = []
    report = await copy_database(sqlite_url, pg_url, progress=lambda t, n: seen.append((t, n)))
    assert report.rows == {name: len(rows) for name, rows in before.items()}
    assert [name for name, _ in seen] == [t.name for t in tables_to_copy()], "parents first"

    on_postgres = Database(pg_url)
    try:
        assert await snapshot(on_postgres) == before
        assert await state.load(on_postgres, state.NEXT_BATCH) == {
            state.NEXT_BATCH: "s72594_4483_1934_sync-token"
        }
        assert await load(on_postgres, STORE_KEY) == {STORE_KEY: "generated-store-key-0123456789abcdef"}
    finally:
        await on_postgres.dispose()

    back_url = f"sqlite+aiosqlite:///{tmp_path / 'back.db'}"
    await copy_database(pg_url, back_url, batch_rows=2)
    back = Database(back_url)
    try:
        assert await snapshot(back) == before
    finally:
        await back.dispose()

    # The sequences moved past the copied ids (PostgreSQL), and SQLite's counters too.
    for url in (pg_url, back_url):
        db = Database(url)
        try:
            await new_ids_follow_the_copied_ones(db)
        finally:
            await db.dispose()


async def test_a_target_with_rows_is_refused_with_its_own_exit_code(
    database_kind: str, postgres_server: PostgresForTests, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'kennisbrug.db'}"
    source = Database(sqlite_url)
    await migrate(source)
    await save(source, {STORE_KEY: "generated-store-key-0123456789abcdef"})
    await source.dispose()
    pg_url = postgres_server.server.url(await postgres_server.fresh_database(empty=True))
    await copy_database(sqlite_url, pg_url)

    # The store key and the schema fingerprint the copy brought from the source.
    with pytest.raises(TargetNotEmpty, match=r"core_state has 2 row"):
        await copy_database(sqlite_url, pg_url)
    with pytest.raises(CopyError, match="same database"):
        await copy_database(pg_url, pg_url)
    relative = f"sqlite+aiosqlite:///{os.path.relpath(tmp_path / 'kennisbrug.db')}"  # the same file
    with pytest.raises(CopyError, match="same database"):
        await copy_database(sqlite_url, relative)


def test_the_command_refuses_a_target_with_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    first, second = (f"sqlite+aiosqlite:///{tmp_path / name}" for name in ("a.db", "b.db"))

    async def prepare() -> None:
        for url in (first, second):
            db = Database(url)
            await migrate(db)
            await save(db, {STORE_KEY: "generated-store-key-0123456789abcdef"})
            await db.dispose()

    asyncio.run(prepare())
    assert main(["copy-database", "--from", first, "--to", second]) == EXIT_TARGET_NOT_EMPTY
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not empty" in err and "core_state" in err


def test_the_copy_refuses_while_a_bot_runs_on_the_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'kennisbrug.db'}"
    running = Database(sqlite_url)
    lock = InstanceLock(running)  # what a running bot holds
    asyncio.run(migrate(running))
    asyncio.run(lock.acquire())
    try:
        code = main(["copy-database", "--from", sqlite_url, "--to", f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"])
    finally:
        asyncio.run(lock.release())
    assert code == EXIT_ALREADY_RUNNING
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "running on the source database: stop it first" in err
    assert not (tmp_path / "new.db").exists() or not asyncio.run(_has_tables(tmp_path / "new.db"))


async def _has_tables(path: Path) -> bool:
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        return bool(await table_names(db))
    finally:
        await db.dispose()


def test_only_the_loaded_schemas_tables_are_copied() -> None:
    # A plugin imported earlier in the process (another test, another command) has its
    # table in the shared metadata; a copy without that plugin must not ask for it.
    import tests.plugins.notes.models  # noqa: F401

    assert "notes_notes" not in {table.name for table in tables_to_copy()}
    assert "notes_notes" in {table.name for table in tables_to_copy(["tests.plugins.notes"])}
