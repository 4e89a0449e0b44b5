"""The notes plugin's tables: models in ``tests.plugins.notes.models``, revisions here."""

from pathlib import Path

from bot.storage.migrate import FeatureSchema

SCHEMA = FeatureSchema(name="notes", models="tests.plugins.notes.models", versions=Path(__file__).resolve().parent)
