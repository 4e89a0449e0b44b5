"""The ``buddy:`` config section, and what a restart finishes that a crash left half done."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App
from bot.storage.models import ScheduledJob
from commands.buddy import check_config
from commands.buddy.feature import Buddy, checkin_job_id, offer_job_id
from commands.buddy.settings import BuddySettings
from tests.fakes import BOB, FakeTransport, make_config
from tests.unit.buddy.test_feature import CAROL, dm, profile, texts

pytestmark = pytest.mark.both_databases


def test_defaults_and_every_problem_by_dotted_key(tmp_path: Path) -> None:
    settings = BuddySettings.from_config(make_config(tmp_path))
    assert settings.offer_timeout.days == 3 and settings.checkin_weeks == (2, 6)
    bad = make_config(
        tmp_path,
        buddy={"offer_timeout_hours": 0, "checkin_weeks": [2, "zes"], "default_max_pairs": 9, "max_pairs_limit": 3},
    )
    problems = check_config(bad)
    assert any(p.startswith("buddy.offer_timeout_hours:") for p in problems)
    assert any(p.startswith("buddy.checkin_weeks:") for p in problems)
    assert any(p.startswith("buddy.default_max_pairs:") for p in problems)
    assert check_config(make_config(tmp_path, buddy={"checkin_weeks": [1], "offer_timeout_hours": 24})) == []


async def test_a_restart_finishes_an_offer_and_a_pair_a_crash_interrupted(app: App, transport: FakeTransport) -> None:
    buddy = next(f for f in app.features if isinstance(f, Buddy))
    await profile(app, BOB)
    await profile(app, CAROL)
    await buddy.store.set_availability(CAROL, available=True)
    # The process died right after the offer row was written: no job, no DM yet.
    request_id, _ = await buddy.store.create_request(BOB, {}, None, "$crashed")
    offer_id = await buddy.store.create_offer(request_id, CAROL, 3)
    assert offer_id is not None
    await buddy.start()
    await app.services.outbox.deliver_due()
    assert any("Een collega zoekt een buddy" in t for t in texts(transport, dm(CAROL)))
    async with app.services.db.session() as session:
        assert await session.get(ScheduledJob, offer_job_id(offer_id)) is not None
    # Accepted, then the process died before the room existed: the next start makes it.
    pair_id = await buddy.store.accept_offer(offer_id, CAROL)
    assert pair_id is not None
    await buddy.start()
    await buddy.start()  # twice: still one room, one agenda, one message to bob
    await app.services.outbox.deliver_due()
    pair = await buddy.store.pair(pair_id)
    assert pair is not None and pair.room_id
    assert len(texts(transport, pair.room_id)) == 1
    assert sum("wil je buddy zijn" in t for t in texts(transport, dm(BOB))) == 1
    async with app.services.db.session() as session:
        jobs = set((await session.scalars(select(ScheduledJob.job_id))).all())
    assert {checkin_job_id(pair_id, 1), checkin_job_id(pair_id, 2)} <= jobs
