"""Small durable facts in ``core_state``: keys and text values, read and upserted in bulk."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.database import Database, dialect_insert
from bot.storage.models import KeyValue


async def load(db: Database, *keys: str) -> dict[str, str]:
    """The stored values of ``keys`` (missing keys are absent from the result)."""
    async with db.session() as session:
        rows = await session.execute(select(KeyValue).where(KeyValue.key.in_(keys)))
        return {row.key: row.value for row in rows.scalars()}


async def save(db: Database, values: Mapping[str, str]) -> None:
    """Insert or replace every key in one transaction."""
    async with db.transaction() as session:
        await save_in(session, values)


async def save_in(session: AsyncSession, values: Mapping[str, str]) -> None:
    """:func:`save` inside a transaction the caller owns: one upsert for every key."""
    if not values:
        return
    rows = [{"key": key, "value": value} for key, value in values.items()]
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    statement = dialect_insert(dialect)(KeyValue).values(rows)
    await session.execute(
        statement.on_conflict_do_update(index_elements=["key"], set_={"value": statement.excluded.value})
    )


async def remove(db: Database, *keys: str) -> None:
    async with db.transaction() as session:
        await session.execute(delete(KeyValue).where(KeyValue.key.in_(keys)))
