"""Find every stored row that still names a member: the test of "erased means erased".

Scans every table of the shared metadata (the core's and every feature's) and every
text or JSON column in it, on SQLite and PostgreSQL alike. A feature test calls
``rows_mentioning(db, user)`` after an erase and expects an empty list.

Beyond the database: :func:`files_mentioning` reads the crypto store's files byte by
byte, and :func:`memory_mentioning` walks the objects of a running app (caches such as
the members' languages, the directory index, flood buckets, open conversations).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import Enum
from pathlib import Path
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType
from typing import Any

from sqlalchemy import JSON, Column, String, Table, inspect, or_, select
from sqlalchemy.types import TypeDecorator, TypeEngine

from bot.core_data import as_text, column_mentions, reference_forms
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


# -- files: the crypto store -------------------------------------------------------


def files_mentioning(folder: Path, user_id: str) -> list[tuple[str, str]]:
    """(file, excerpt) for every file under ``folder`` whose bytes contain ``user_id``.

    For nio's crypto store (SQLite database and trust files): raw bytes, so a deleted
    row whose page was not overwritten is found too.
    """
    forms = [form.encode() for form in reference_forms(user_id)]
    found: list[tuple[str, str]] = []
    if not folder.exists():
        return found
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for form in forms:
            at = data.find(form)
            if at >= 0:
                start = max(at - _EXCERPT_CONTEXT, 0)
                found.append(
                    (path.name, data[start : at + len(form) + _EXCERPT_CONTEXT].decode(errors="replace"))
                )
                break
    return found


# -- memory: the caches the bot keeps -----------------------------------------------

#: Objects not walked into: they are not caches of the bot's (the database engine,
#: configuration and catalogues, the test transport's own recordings, asyncio's and
#: SQLAlchemy's machinery).
_OPAQUE = (type, ModuleType, FunctionType, MethodType, BuiltinFunctionType, asyncio.AbstractEventLoop)
_OPAQUE_MODULES = ("sqlalchemy", "asyncio", "apscheduler", "logging", "concurrent", "yaml", "zoneinfo")
_MAX_DEPTH = 12


def memory_mentioning(root: Any, user_id: str, *, skip: Sequence[Any] = ()) -> list[str]:
    """Attribute paths (``services.members._language_cache['@bob:x']``) under ``root``
    whose value, key or element is a text containing ``user_id``.

    Walks attributes, dicts, lists, sets and tuples; ``skip`` are objects left out
    (the transport's recordings in a unit test: what was sent, not what is kept).
    """
    forms = reference_forms(user_id)
    skipped = {id(obj) for obj in skip}
    seen: set[int] = set()
    found: list[str] = []

    def walk(value: Any, path: str, depth: int) -> None:
        if isinstance(value, str):
            if any(form in value for form in forms):
                found.append(path)
            return
        if value is None or isinstance(value, int | float | bytes | bool | datetime | Enum):
            return
        if id(value) in seen or id(value) in skipped or depth > _MAX_DEPTH or isinstance(value, _OPAQUE):
            return
        if type(value).__module__.split(".")[0] in _OPAQUE_MODULES:
            return
        seen.add(id(value))
        if isinstance(value, Mapping):
            for key, item in list(value.items()):
                walk(key, f"{path}[{key!r}] (key)", depth + 1)
                walk(item, f"{path}[{key!r}]", depth + 1)
            return
        if isinstance(value, list | tuple | set | frozenset | deque):
            for index, item in enumerate(list(value)):
                walk(item, f"{path}[{index}]", depth + 1)
            return
        attributes = dict(getattr(value, "__dict__", {}))
        for name in getattr(type(value), "__slots__", ()):
            if hasattr(value, name):
                attributes[name] = getattr(value, name)
        for name, item in attributes.items():
            walk(item, f"{path}.{name}", depth + 1)

    walk(root, "app", 0)
    return found
