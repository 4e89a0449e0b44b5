"""``kennisbrug copy-database --from URL --to URL``: a community moves to another database.

SQLite to PostgreSQL is the usual move (and back, or PostgreSQL to PostgreSQL). Every
row goes, through SQLAlchemy Core on the models' own tables (so each value passes the
same types it was stored with): the sync token and the device's token in ``core_state``
with the crypto store key when the bot generated it, the jobs, the outbox, every
feature's rows. A key the operator gives outside the database (``bot/secrets.py``) is
not in it and stays where it is; so does the crypto store, a folder of files.

The steps, each for a reason:

1. Both databases' instance locks (:mod:`bot.storage.lock`): a bot still running on the
   source would go on writing rows the copy no longer sees; one starting on the target
   would write into a half-copied database.
2. The source must be at the newest schema of the loaded features (``migrate`` it
   first): the target gets that schema, and rows of an older one may not fit it.
3. The target must hold no rows. Then it is migrated to the newest schema, every
   feature's tables, as ``migrate`` does.
4. Tables in dependency order (parents before the rows that refer to them), read in
   primary-key order and written in batches, all in one transaction on the target: a
   copy that fails half-way leaves an empty target, not half a community.
5. PostgreSQL sequences are moved past the copied ids, or the next new row would take
   an id that exists.
6. Every table is counted again on both sides.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import Integer, Table, func, inspect, select, text
from sqlalchemy import table as table_clause
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.errors import KennisbrugError
from bot.storage import Base, Database, schema_fingerprint
from bot.storage.lock import AlreadyRunning, InstanceLock
from bot.storage.migrate import (
    VERSION_TABLE,
    current_heads,
    feature_schemas,
    head_revisions,
    migrate,
    tables_of,
)

BATCH_ROWS = 1000


class CopyError(KennisbrugError):
    """The copy cannot be made or did not come out right; one line that says why."""


class SourceInUse(CopyError):
    """A bot runs on the source (or the target) database."""


class TargetNotEmpty(CopyError):
    """The target database holds rows already."""


@dataclass
class CopyReport:
    #: Rows per table, in the order the tables were copied.
    rows: dict[str, int] = field(default_factory=dict)
    schema: str = ""

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def tables_to_copy(features: Iterable[str] = ()) -> list[Table]:
    """Every model table of the core, the built-in features and ``features``, parents first.

    Only those schemas' own tables: the shared metadata also holds the tables of any
    other module imported in this process (a plugin loaded for something else), which
    neither database has."""
    wanted: set[str] = set()
    for schema in feature_schemas(features):
        wanted |= tables_of(schema)
    return [table for table in Base.metadata.sorted_tables if table.name in wanted]


async def copy_database(
    source_url: str,
    target_url: str,
    features: Iterable[str] = (),
    *,
    batch_rows: int = BATCH_ROWS,
    progress: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy every row of ``source_url`` into the empty ``target_url``; see the module docstring."""
    features = tuple(features)
    if _same_database(source_url, target_url):
        raise CopyError("--from and --to name the same database")
    tables = tables_to_copy(features)
    source, target = Database(source_url), Database(target_url)
    try:
        async with _locked(source, "source"), _locked(target, "target"):
            await _check_source(source, tables, features)
            await _check_target_empty(target)
            await migrate(target, features)
            # The migration left its own schema fingerprint; the source's row (or none)
            # comes over with core_state, as every other row does.
            await schema_fingerprint.forget(target)
            report = CopyReport(schema="+".join(sorted(await current_heads(target))))
            async with target.engine.begin() as dst:
                if target.is_sqlite:
                    # The copy is complete only at the end: parents of a self-reference
                    # may come later in key order (PostgreSQL checks at each row too, so
                    # sorted_tables' order is what keeps it valid there).
                    await dst.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
                async with source.engine.connect() as src:
                    for table in tables:
                        copied = await _copy_table(src, dst, table, batch_rows)
                        report.rows[table.name] = copied
                        if progress is not None:
                            progress(table.name, copied)
                if not target.is_sqlite:
                    await _reset_sequences(dst, tables)
            await _verify(source, target, tables, report)
            return report
    finally:
        await source.dispose()
        await target.dispose()


def _same_database(a: str, b: str) -> bool:
    from pathlib import Path

    from sqlalchemy.engine import make_url

    def where(url: str) -> tuple[object, ...]:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            return ("sqlite", Path(parsed.database or "").expanduser().resolve())
        return (parsed.get_backend_name(), parsed.host, parsed.port, parsed.database)

    return where(a) == where(b)


@contextlib.asynccontextmanager
async def _locked(db: Database, role: str) -> AsyncIterator[None]:
    lock = InstanceLock(db)
    try:
        await lock.acquire()
    except AlreadyRunning:
        raise SourceInUse(
            f"a Kennisbrug bot is running on the {role} database: stop it first (the copy must "
            f"see every row, and no bot may write while it is made)"
        ) from None
    try:
        yield
    finally:
        await lock.release()


async def _table_names(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def _check_source(source: Database, tables: list[Table], features: tuple[str, ...]) -> None:
    heads = await current_heads(source)
    if not heads:
        raise CopyError("the source database has no Kennisbrug schema (is --from the right database?)")
    wanted = tuple(sorted(head_revisions(features)))
    if tuple(sorted(heads)) != wanted:
        raise CopyError(
            f"the source database is at revision {'+'.join(heads)}, not the newest ({'+'.join(wanted)}): "
            "run `kennisbrug migrate` on it first (a bot start does too)"
        )
    # Reflection of the source: a table no loaded model describes would be left behind.
    unknown = sorted(await _table_names(source) - {t.name for t in tables} - {VERSION_TABLE})
    if unknown:
        raise CopyError(
            f"the source database has table(s) {', '.join(unknown)} that no loaded feature defines: "
            "name the plugin that owns them (--config with its plugins), or the copy would lose them"
        )


async def _check_target_empty(target: Database) -> None:
    existing = await _table_names(target)
    async with target.engine.connect() as conn:
        for name in sorted(existing - {VERSION_TABLE}):
            count = (await conn.execute(select(func.count()).select_from(table_clause(name)))).scalar_one()
            if count:
                raise TargetNotEmpty(
                    f"the target database is not empty ({name} has {count} row(s)): copy into a new, "
                    "empty database"
                )


async def _copy_table(src: AsyncConnection, dst: AsyncConnection, table: Table, batch_rows: int) -> int:
    order = list(table.primary_key.columns) or list(table.columns)
    copied = 0
    result = await src.stream(select(table).order_by(*order))
    async for batch in result.mappings().partitions(batch_rows):
        await dst.execute(table.insert(), [dict(row) for row in batch])
        copied += len(batch)
    return copied


def _serial_columns(table: Table) -> list[str]:
    """Integer primary-key columns whose values a PostgreSQL sequence hands out."""
    columns = list(table.primary_key.columns)
    return [c.name for c in columns if len(columns) == 1 and isinstance(c.type, Integer) and c.autoincrement]


async def _reset_sequences(dst: AsyncConnection, tables: list[Table]) -> None:
    for table in tables:
        for column in _serial_columns(table):
            found = text("SELECT pg_get_serial_sequence(:t, :c)")
            sequence = (await dst.execute(found, {"t": table.name, "c": column})).scalar()
            if sequence is None:
                continue
            # setval(seq, max, true): the next id is max + 1; an empty table starts at 1.
            await dst.execute(
                text(
                    f'SELECT setval(:s, COALESCE((SELECT MAX("{column}") FROM "{table.name}"), 1), '
                    f'(SELECT MAX("{column}") FROM "{table.name}") IS NOT NULL)'
                ),
                {"s": sequence},
            )


async def _verify(source: Database, target: Database, tables: list[Table], report: CopyReport) -> None:
    differences = []
    async with source.engine.connect() as src, target.engine.connect() as dst:
        for table in tables:
            counted = select(func.count()).select_from(table)
            before = (await src.execute(counted)).scalar_one()
            after = (await dst.execute(counted)).scalar_one()
            if not before == after == report.rows[table.name]:
                differences.append(f"{table.name}: {before} in the source, {after} in the target")
    if differences:
        raise CopyError("the copy does not match the source: " + "; ".join(differences))
