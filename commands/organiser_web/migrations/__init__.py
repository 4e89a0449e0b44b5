"""The organisers' web page's tables: models in ``commands.organiser_web.models``,
revisions in this folder (``run_bot.py revision organiser_web -m "…"``)."""

from pathlib import Path

from bot.storage.migrate import FeatureSchema

SCHEMA = FeatureSchema(
    name="organiser_web", models="commands.organiser_web.models", versions=Path(__file__).resolve().parent
)
