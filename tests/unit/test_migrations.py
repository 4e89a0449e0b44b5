"""Alembic is the only way the schema changes: the migrations must build exactly the models,
on SQLite and on PostgreSQL, from an empty database and from every earlier revision, and
the features own their revisions without changing the history that running communities'
databases record."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from bot.app import build_app
from bot.cli import main
from bot.storage import Database
from bot.storage.migrate import (
    CORE_SCHEMA,
    SHARED_HISTORY_HEAD,
    FeatureSchema,
    SchemaError,
    alembic_config,
    current_heads,
    current_revision,
    feature_schemas,
    head_revisions,
    import_models,
    migrate,
    tables_of,
)
from bot.storage.models import Base
from tests.fakes import FakeTransport, make_config

PROJECT = Path(__file__).resolve().parents[2]
OLD_HEAD_DUMP = Path(__file__).parent / "data" / f"schema_{SHARED_HISTORY_HEAD}.sql"
PLUGIN = "tests.plugins.notes"

# The linear chain every database made before features owned their schema went through:
# revision -> down_revision, and the package whose folder now holds it.
SHARED_HISTORY = {
    "53abc13a64e6": (None, "bot.storage"),
    "05f2f6fb5a7f": ("53abc13a64e6", "bot.storage"),
    "9ad494532701": ("05f2f6fb5a7f", "commands.introductions"),
    "f927daea9695": ("9ad494532701", "commands.buddy"),
    "4d0c417a4eed": ("f927daea9695", "commands.casus"),
    "a4fba1a66b1d": ("4d0c417a4eed", "commands.digest"),
    "c0808456928a": ("a4fba1a66b1d", "commands.events"),
    "3b7e5d2c91f4": ("c0808456928a", "commands.introductions"),
}


def _script(features: tuple[str, ...] = ()) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(feature_schemas(features)))


def _differences(connection: Connection, schemas: list[FeatureSchema]) -> list[object]:
    """What autogenerate would still write for the tables of ``schemas``."""
    import_models(schemas)
    # Other tests may have imported a plugin's models into the shared metadata; only the
    # tables of the schemas that were migrated are compared.
    tables = set().union(*(tables_of(schema) for schema in schemas))

    def include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table is None or table in tables

    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": include}
    )
    return list(compare_metadata(context, Base.metadata))


async def _assert_matches_models(db: Database, features: tuple[str, ...] = ()) -> None:
    schemas = feature_schemas(features)
    async with db.engine.connect() as conn:
        differences = await conn.run_sync(_differences, schemas)
    assert differences == [], f"models changed without a migration: {differences}"


def _sqlite_schema(path: Path) -> list[tuple[str, str]]:
    con = sqlite3.connect(path)
    try:
        return sorted(con.execute("SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))
    finally:
        con.close()


@pytest.mark.both_databases
async def test_migrations_match_models(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    before, after = await migrate(db)
    assert before is None
    assert await current_heads(db) == head_revisions()
    await _assert_matches_models(db)
    # Migrating again is a no-op.
    assert await migrate(db) == (after, after)
    assert await current_revision(db) == after
    await db.dispose()


def test_the_shared_history_kept_its_ids_and_links() -> None:
    script = _script()
    for revision, (down, package) in SHARED_HISTORY.items():
        found = script.get_revision(revision)
        assert found is not None and found.down_revision == down
        folder = Path(found.path).parent
        if package == "bot.storage":
            assert folder == CORE_SCHEMA.versions
        else:
            assert folder == PROJECT / package.replace(".", "/") / "migrations"
    # Whatever comes after is a feature's own branch resting on the shared history.
    for found in script.walk_revisions():
        if found.revision not in SHARED_HISTORY:
            assert found.branch_labels, f"{found.revision} belongs to no feature's branch"


def test_every_feature_with_models_declares_its_schema() -> None:
    names = {schema.name for schema in feature_schemas()}
    assert {"core", "introductions", "buddy", "questions", "casus", "digest", "stats", "events"} <= names
    models = {path.parent.name for path in (PROJECT / "commands").glob("*/models.py")}
    assert models <= names


@pytest.mark.parametrize("start", sorted({r.revision for r in _script().walk_revisions()}))
@pytest.mark.both_databases
async def test_upgrade_from_an_earlier_revision(empty_db_url: str, start: str) -> None:
    db = Database(empty_db_url)
    cfg = alembic_config()

    def to_start(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, start)

    async with db.engine.begin() as conn:
        await conn.run_sync(to_start)
    assert start in await current_heads(db)
    await migrate(db)
    assert await current_heads(db) == head_revisions()
    await _assert_matches_models(db)
    await db.dispose()


async def test_a_database_at_the_old_head_migrates_nothing_new(tmp_path: Path) -> None:
    """The dump was taken from a database migrated before the revisions moved."""
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript(OLD_HEAD_DUMP.read_text())
    con.close()
    schema_before = _sqlite_schema(path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    before, after = await migrate(db)
    assert before == SHARED_HISTORY_HEAD
    assert await current_heads(db) == head_revisions()
    await _assert_matches_models(db)
    await db.dispose()
    own_revisions = [r.revision for r in _script().walk_revisions() if r.revision not in SHARED_HISTORY]
    if not own_revisions:
        # Nothing was written after the move: not one statement may have run.
        assert after == before
        assert _sqlite_schema(path) == schema_before


async def test_a_plugin_named_in_the_config_gets_its_table(tmp_path: Path) -> None:
    config = make_config(tmp_path, plugins=[PLUGIN])
    app = await build_app(config, transport_factory=FakeTransport)
    db = app.services.db
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    assert "notes_notes" in tables
    (notes,) = (s for s in feature_schemas(config.plugins) if s.name == "notes")
    assert notes.versions == PROJECT / "tests" / "plugins" / "notes" / "migrations"
    assert await current_heads(db) == head_revisions(config.plugins)
    assert set(head_revisions(config.plugins)) - set(head_revisions()), "the plugin adds a head"
    await _assert_matches_models(db, config.plugins)
    await app.stop()


async def test_without_the_plugin_its_table_is_not_made(tmp_path: Path) -> None:
    import_models(feature_schemas((PLUGIN,)))  # even with its models in the metadata
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    await migrate(db, ())
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    assert "notes_notes" not in tables and "core_members" in tables
    await db.dispose()


async def test_a_database_naming_a_plugin_no_longer_loaded_is_refused(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    await migrate(db, (PLUGIN,))
    with pytest.raises(SchemaError, match="which no loaded feature provides"):
        await migrate(db, ())
    # Put back, it migrates as before.
    await migrate(db, (PLUGIN,))
    await db.dispose()


def test_the_migrate_command_loads_the_plugins_of_the_config(tmp_path: Path) -> None:
    import yaml

    raw = yaml.safe_load((PROJECT / "config" / "example.yaml").read_text())
    raw["database"]["url"] = f"sqlite+aiosqlite:///{tmp_path / 'k.db'}"
    raw["plugins"] = [PLUGIN]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["migrate", "--config", str(path)]) == 0
    con = sqlite3.connect(tmp_path / "k.db")
    try:
        assert con.execute("SELECT count(*) FROM notes_notes").fetchone() == (0,)
    finally:
        con.close()


def test_two_features_cannot_claim_one_name() -> None:
    with pytest.raises(SchemaError, match="already taken"):
        feature_schemas(("tests.plugins.notes", "tests.plugins.notes_clash"))
