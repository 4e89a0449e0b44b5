"""The introductions feature's tables: models in
``commands.introductions.models``, revisions in this folder.

Write a new revision with ``run_bot.py revision introductions -m "what changes"``.
"""

from pathlib import Path

from bot.storage.migrate import FeatureSchema

SCHEMA = FeatureSchema(
    name="introductions", models="commands.introductions.models", versions=Path(__file__).resolve().parent
)
