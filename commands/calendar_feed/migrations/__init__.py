"""The calendar feed's table: models in ``commands.calendar_feed.models``, revisions in
this folder (``run_bot.py revision calendar_feed -m "…"``)."""

from pathlib import Path

from bot.storage.migrate import FeatureSchema

SCHEMA = FeatureSchema(
    name="calendar_feed", models="commands.calendar_feed.models", versions=Path(__file__).resolve().parent
)
