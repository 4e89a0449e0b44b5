"""The casus feature's tables: models in ``commands.casus.models``, revisions in this folder.

Write a new revision with ``run_bot.py revision casus -m "what changes"``.
"""

from pathlib import Path

from bot.storage.migrate import FeatureSchema

SCHEMA = FeatureSchema(
    name="casus", models="commands.casus.models", versions=Path(__file__).resolve().parent
)
