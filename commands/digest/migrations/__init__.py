"""The digest feature's tables: models in ``commands.digest.models``, revisions in this folder.

``a4fba1a66b1d`` of the shared history also creates the stats feature's tables.

Write a new revision with ``run_bot.py revision digest -m "what changes"``.
"""

from pathlib import Path

from bot.storage.migrate import FeatureSchema

SCHEMA = FeatureSchema(
    name="digest", models="commands.digest.models", versions=Path(__file__).resolve().parent
)
