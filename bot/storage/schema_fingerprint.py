"""Whether the database is already at the schema this code has, without Alembic.

Migrating at every start ran Alembic every time: its import, every revision file
parsed and the environment loaded, seconds of a start for a schema that had not
changed. After a migration the database keeps a fingerprint (``core_state``): a hash
of every loaded schema's revision files, with the ``alembic_version`` rows they led to.
A start whose revision files hash the same and whose ``alembic_version`` still holds
those rows has nothing to migrate; any difference (a new or edited revision file, a
plugin added or removed, a database moved back or ahead) runs the full migration and
its checks, as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.storage import keyvalue
from bot.storage.database import Database

if TYPE_CHECKING:
    from bot.storage.migrate import FeatureSchema

FINGERPRINT_KEY = "schema.fingerprint"


def fingerprint(schemas: Iterable[FeatureSchema]) -> str:
    """A hash of the schemas' names and revision files (names and contents)."""
    digest = hashlib.sha256()
    for schema in sorted(schemas, key=lambda s: s.name):
        digest.update(f"schema {schema.name}\n".encode())
        for path in sorted(schema.versions.glob("*.py")):
            digest.update(f"file {path.name}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _record(print_: str, heads: Iterable[str]) -> str:
    return f"{print_} {'+'.join(sorted(heads))}"


async def up_to_date(db: Database, print_: str, version_table: str) -> tuple[str, ...] | None:
    """The database's heads when the last migration left this fingerprint and those
    heads; None when a migration has to look."""
    try:
        stored = await keyvalue.load(db, FINGERPRINT_KEY)
        if FINGERPRINT_KEY not in stored:
            return None
        async with db.session() as session:
            rows = await session.execute(text(f"SELECT version_num FROM {version_table}"))
            heads = [str(row[0]) for row in rows.all()]
    except SQLAlchemyError:
        return None  # an empty database (no core_state or version table yet)
    return tuple(sorted(heads)) if stored[FINGERPRINT_KEY] == _record(print_, heads) else None


async def remember(db: Database, print_: str, heads: Iterable[str]) -> None:
    await keyvalue.save(db, {FINGERPRINT_KEY: _record(print_, heads)})


async def forget(db: Database) -> None:
    """Drop the fingerprint: the next start migrates and checks in full (a database
    whose rows were replaced by a copy)."""
    await keyvalue.remove(db, FINGERPRINT_KEY)
