"""Alembic is the only way the schema changes: the migrations must build exactly the
models, on SQLite and on PostgreSQL, from an empty database and from every earlier
revision."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from bot.storage import Database
from bot.storage.migrate import alembic_config, current_revision, head_revision, import_all_models, migrate
from bot.storage.models import Base

pytestmark = pytest.mark.both_databases


async def _differences(db: Database) -> list[object]:
    import_all_models()

    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with db.engine.connect() as conn:
        return await conn.run_sync(diff)


def _revisions_oldest_first() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


async def _upgrade_to(db: Database, revision: str) -> None:
    cfg = alembic_config()

    def upgrade(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(upgrade)


async def test_migrations_match_models(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    before, after = await migrate(db)
    assert before is None and after == head_revision()
    differences = await _differences(db)
    assert differences == [], f"models changed without a migration: {differences}"
    # Migrating again is a no-op.
    assert await migrate(db) == (after, after)
    assert await current_revision(db) == after
    await db.dispose()


async def test_every_revision_upgrades_to_the_next_and_the_start_migrates_the_rest(empty_db_url: str) -> None:
    revisions = _revisions_oldest_first()
    assert revisions[-1] == head_revision() and len(revisions) > 1
    db = Database(empty_db_url)
    # One step at a time: each migration runs on a database left by the one before.
    for revision in revisions[:-1]:
        await _upgrade_to(db, revision)
        assert await current_revision(db) == revision
    # The bot's own start takes the last step (as after an upgrade of the bot).
    assert await migrate(db) == (revisions[-2], revisions[-1])
    assert await _differences(db) == []
    await db.dispose()
