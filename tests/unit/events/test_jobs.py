"""The events feature rebuilds missing jobs at start, in one go, and never duplicates."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from bot.app import App
from bot.storage.models import ScheduledJob
from tests.unit.events.test_feature import announce, feature

pytestmark = pytest.mark.both_databases


async def _jobs(app: App) -> dict[str, str]:
    async with app.services.db.session() as session:
        rows = (
            await session.execute(
                select(ScheduledJob.job_id, ScheduledJob.status).where(ScheduledJob.job_id.like("events:%"))
            )
        ).all()
    return {job_id: status for job_id, status in rows}


async def test_rebuild_adds_only_what_is_missing(app: App) -> None:
    event_id = await announce(app)
    assert len(await _jobs(app)) == 4
    assert await feature(app).rebuild_jobs() == 0
    async with app.services.db.transaction() as session:
        await session.execute(
            delete(ScheduledJob).where(ScheduledJob.job_id == f"events:remind:{event_id}:1d")
        )
        await session.execute(
            update(ScheduledJob)
            .where(ScheduledJob.job_id == f"events:remind:{event_id}:7d")
            .values(status="done")
        )
    assert await feature(app).rebuild_jobs() == 1
    jobs = await _jobs(app)
    assert (
        jobs[f"events:remind:{event_id}:1d"] == "pending" and jobs[f"events:remind:{event_id}:7d"] == "done"
    )
    assert await feature(app).rebuild_jobs() == 0
