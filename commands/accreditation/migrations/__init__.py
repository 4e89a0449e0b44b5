"""The accreditation feature's tables: models in ``commands.accreditation.models``,
revisions in this folder.

Write a new revision with ``run_bot.py revision accreditation -m "what changes"``.
"""

from pathlib import Path

from bot.storage.migrate import FeatureSchema

SCHEMA = FeatureSchema(
    name="accreditation", models="commands.accreditation.models", versions=Path(__file__).resolve().parent
)
