"""Find every stored row that still names a member: the test of "erased means erased".

Scans every table of the shared metadata (the core's and every feature's) and every
text or JSON column in it, on SQLite and PostgreSQL alike. A feature test calls
``rows_mentioning(db, user)`` after an erase and expects an empty list.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, String, Table, inspect, or_, select
from sqlalchemy.types import TypeDecorator, TypeEngine

from bot.erasure import as_text, column_mentions, reference_forms
from bot.storage import Base, Database
from bot.storage.migrate import import_all_models

_EXCERPT_CONTEXT = 40


def _is_textual(column_type: TypeEngine[Any]) -> bool:
    """String, Text, Enum, JSON (and JSONB), also behind a TypeDecorator."""
    if isinstance(column_type, TypeDecorator):
        return _is_textual(column_type.impl_instance)
    return isinstance(column_type, String | JSON)


def textual_columns(table: Table) -> list[Column[Any]]:
    return [column for column in table.columns if _is_textual(column.type)]


def excerpt(text: str, found: str) -> str:
    start = max(text.find(found) - _EXCERPT_CONTEXT, 0)
    return text[start : text.find(found) + len(found) + _EXCERPT_CONTEXT]


async def _existing_tables(db: Database) -> set[str]:
    # A feature's models may be ahead of the migrations in a work tree; a table that
    # does not exist holds nothing.
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def rows_mentioning(db: Database, user_id: str) -> list[tuple[str, str, str]]:
    """(table, column, excerpt) for every stored value that contains ``user_id``."""
    import_all_models()
    forms = reference_forms(user_id)
    existing = await _existing_tables(db)
    found: list[tuple[str, str, str]] = []
    async with db.session() as session:
        for table in Base.metadata.sorted_tables:
            columns = textual_columns(table)
            if table.name not in existing or not columns:
                continue
            query = select(*columns).where(or_(*(column_mentions(column, forms) for column in columns)))
            for row in (await session.execute(query)).all():
                for column, value in zip(columns, row, strict=True):
                    text = as_text(value)
                    for form in forms:
                        if form in text:  # exact: SQLite's LIKE ignores case
                            found.append((table.name, column.name, excerpt(text, form)))
                            break
    return found
