"""The events feature's tables: models in ``commands.events.models``, revisions in this folder.

Write a new revision with ``run_bot.py revision events -m "what changes"``.
"""

from pathlib import Path

from bot.storage.migrate import FeatureSchema

SCHEMA = FeatureSchema(
    name="events", models="commands.events.models", versions=Path(__file__).resolve().parent
)
