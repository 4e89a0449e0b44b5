"""The questions feature's tables: models in
``commands.questions.models``, revisions in this folder.

Its tables were created by ``f927daea9695`` of the shared history, which lives with
the buddy feature's revisions; this folder holds the revisions of its own.

Write a new revision with ``run_bot.py revision questions -m "what changes"``.
"""

from pathlib import Path

from bot.storage.migrate import FeatureSchema

SCHEMA = FeatureSchema(
    name="questions", models="commands.questions.models", versions=Path(__file__).resolve().parent
)
