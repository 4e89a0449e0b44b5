"""Schema migrations: Alembic is the only way the schema changes; the bot migrates at start."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from bot.storage.database import Database

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def import_all_models() -> None:
    """Import ``commands.<feature>.models`` so every table is in the shared metadata."""
    import commands

    for module in pkgutil.iter_modules(commands.__path__):
        try:
            importlib.import_module(f"commands.{module.name}.models")
        except ModuleNotFoundError as exc:
            if exc.name != f"commands.{module.name}.models":
                raise


def alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _upgrade(connection: Connection, cfg: AlembicConfig) -> None:
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(_current)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def migrate(db: Database) -> tuple[str | None, str | None]:
    """Bring the database to the newest schema; returns (before, after) revisions."""
    before = await current_revision(db)
    cfg = alembic_config()
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade, cfg)
    after = await current_revision(db)
    if before != after:
        log.info("database migrated from %s to %s", before or "empty", after)
    return before, after
