"""The stats feature's tables: models in ``commands.stats.models``, revisions in this folder.

Its tables were created by ``a4fba1a66b1d`` of the shared history, which lives with
the digest feature's revisions; this folder holds the revisions of its own.

Write a new revision with ``run_bot.py revision stats -m "what changes"``.
"""

from pathlib import Path

from bot.storage.migrate import FeatureSchema

SCHEMA = FeatureSchema(
    name="stats", models="commands.stats.models", versions=Path(__file__).resolve().parent
)
