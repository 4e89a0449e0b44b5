"""Alembic environment: run with a connection handed in by bot.storage.migrate.

``bot.storage.migrate`` configures one version folder per feature schema and puts the
schemas in ``config.attributes``; their models are imported here so autogenerate sees
every table. When it writes a revision for one feature, ``include_tables`` holds that
feature's tables and autogenerate looks at nothing else.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from bot.storage.migrate import feature_schemas, import_models
from bot.storage.models import Base

attributes = context.config.attributes
import_models(attributes.get("schemas") or feature_schemas())
connection = attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `python run_bot.py migrate --config PATH`")
include_tables: set[str] | None = attributes.get("include_tables")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    if include_tables is None:
        return True
    if type_ == "table":
        return name in include_tables
    table = getattr(obj, "table", None)
    return table is None or table.name in include_tables


context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite can only alter tables by copying them
    compare_type=True,
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()
