"""Alembic is the only way the schema changes: the migrations must build exactly the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot.storage import Database
from bot.storage.migrate import current_revision, head_revision, import_all_models, migrate
from bot.storage.models import Base

pytestmark = pytest.mark.both_databases


async def test_migrations_match_models(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    before, after = await migrate(db)
    assert before is None and after == head_revision()
    import_all_models()

    def diff(connection: object) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})  # type: ignore[arg-type]
        return list(compare_metadata(context, Base.metadata))

    async with db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == [], f"models changed without a migration: {differences}"
    # Migrating again is a no-op.
    assert await migrate(db) == (after, after)
    assert await current_revision(db) == after
    await db.dispose()
