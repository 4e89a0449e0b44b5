"""Claims the notes plugin's schema name."""

from pathlib import Path

from bot.storage.migrate import FeatureSchema

SCHEMA = FeatureSchema(name="notes", models="tests.plugins.notes.models", versions=Path(__file__).resolve().parent)
