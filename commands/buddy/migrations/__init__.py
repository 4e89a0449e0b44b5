"""The buddy feature's tables: models in ``commands.buddy.models``, revisions in this folder.

``f927daea9695`` of the shared history also creates the questions feature's tables.

Write a new revision with ``run_bot.py revision buddy -m "what changes"``.
"""

from pathlib import Path

from bot.storage.migrate import FeatureSchema

SCHEMA = FeatureSchema(
    name="buddy", models="commands.buddy.models", versions=Path(__file__).resolve().parent
)
