"""A start with an unchanged schema runs no migration; any change still runs the full one,
with its checks (unknown revisions refused, every revision applied)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.storage import Database, schema_fingerprint
from bot.storage import migrate as migrate_module
from bot.storage.migrate import (
    CORE_SCHEMA,
    SchemaError,
    current_heads,
    feature_schemas,
    head_revisions,
    migrate,
)

PLUGIN = "tests.plugins.notes"


@pytest.fixture
def upgrades(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the runs of Alembic's upgrade (the full migration)."""
    calls: list[int] = []
    real = migrate_module._upgrade

    def counting(connection: Any, cfg: Any) -> None:
        calls.append(1)
        real(connection, cfg)

    monkeypatch.setattr(migrate_module, "_upgrade", counting)
    return calls


async def test_a_second_start_runs_no_migration(tmp_path: Path, upgrades: list[int]) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    first = await migrate(db)
    assert upgrades == [1]
    again = await migrate(db)
    assert upgrades == [1], "nothing changed: Alembic is not run"
    assert again == (first[1], first[1])
    assert await current_heads(db) == head_revisions()
    await db.dispose()


async def test_a_changed_revision_file_runs_the_migration(
    tmp_path: Path, upgrades: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    await migrate(db)
    changed = schema_fingerprint.fingerprint(feature_schemas()) + "-edited"
    monkeypatch.setattr(schema_fingerprint, "fingerprint", lambda schemas: changed)
    await migrate(db)
    assert upgrades == [1, 1]
    await migrate(db)
    assert upgrades == [1, 1], "the new fingerprint is remembered"
    await db.dispose()


async def test_a_database_moved_to_another_revision_is_checked(tmp_path: Path, upgrades: list[int]) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    await migrate(db)
    async with db.transaction() as session:
        # A newer bot's database: one more head than this code knows.
        await session.execute(text("INSERT INTO alembic_version (version_num) VALUES ('ffffffffffff')"))
    with pytest.raises(SchemaError, match="which no loaded feature provides"):
        await migrate(db)
    await db.dispose()


async def test_a_plugin_taken_out_is_still_refused(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    await migrate(db, (PLUGIN,))
    await migrate(db, (PLUGIN,))
    with pytest.raises(SchemaError, match="which no loaded feature provides"):
        await migrate(db, ())
    await db.dispose()


def test_the_fingerprint_follows_the_revision_files(tmp_path: Path) -> None:
    folder = tmp_path / "versions"
    folder.mkdir()
    schema = migrate_module.FeatureSchema(name="x", models="bot.storage.models", versions=folder)
    empty = schema_fingerprint.fingerprint([CORE_SCHEMA, schema])
    (folder / "abc_first.py").write_text("revision = 'abc'\n")
    one = schema_fingerprint.fingerprint([CORE_SCHEMA, schema])
    (folder / "abc_first.py").write_text("revision = 'abd'\n")
    edited = schema_fingerprint.fingerprint([CORE_SCHEMA, schema])
    assert len({empty, one, edited}) == 3
    assert schema_fingerprint.fingerprint([schema, CORE_SCHEMA]) == edited, "order does not matter"
