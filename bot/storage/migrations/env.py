"""Alembic environment: run with a connection handed in by bot.storage.migrate.

Every feature's models must be imported before autogenerate compares, so this imports
the feature packages' models through ``bot.storage.migrate.import_all_models``.
"""

from __future__ import annotations

from alembic import context

from bot.storage.migrate import import_all_models
from bot.storage.models import Base

import_all_models()
target_metadata = Base.metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `python run_bot.py migrate --config PATH`")

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=True,  # SQLite can only alter tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
