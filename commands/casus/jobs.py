"""The casus feature's job kinds and ids, and the follow-ups of a posted case.

Kinds and ids are stored with every job: they must stay as they are, or jobs saved
before an upgrade no longer find their handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.scheduler import SchedulerService
from commands.casus.settings import CasusSettings
from commands.casus.store import RunRecord

POST_KIND = "casus.post"
PUBLISH_KIND = "casus.publish"
STEP_KIND = "casus.step"
INVITE_KIND = "casus.invite"
CLOSE_KIND = "casus.close"

# Nudge kinds: an invitation shares its name with the job that plans it.
INVITE_NUDGE_KIND = "casus.invite"
HINT_NUDGE_KIND = "casus.intro_hint"

# A safety net behind the immediate post: the publish job runs this long after a claim.
PUBLISH_RETRY = timedelta(minutes=2)


def post_job_id(theme: str) -> str:
    return f"{POST_KIND}:{theme}"


def publish_job_id(run_id: int) -> str:
    return f"{PUBLISH_KIND}:{run_id}"


@dataclass(frozen=True)
class FollowUp:
    job_id: str
    kind: str
    run_at: datetime
    payload: dict[str, Any]


def followups(run_id: int, posted_at: datetime, settings: CasusSettings) -> list[FollowUp]:
    """Steps 2 and 3, the invitations after each step, and the close."""
    step_two, step_three = settings.step_offsets
    invite = settings.invite_offset
    steps = [
        FollowUp(
            f"{STEP_KIND}:{run_id}:{step}", STEP_KIND, posted_at + offset, {"run_id": run_id, "step": step}
        )
        for step, offset in ((2, step_two), (3, step_three))
    ]
    invites = [
        FollowUp(
            f"{INVITE_KIND}:{run_id}:{step}",
            INVITE_KIND,
            posted_at + offset + invite,
            {"run_id": run_id, "step": step},
        )
        for step, offset in ((1, timedelta(0)), (2, step_two), (3, step_three))
    ]
    close = FollowUp(
        f"{CLOSE_KIND}:{run_id}", CLOSE_KIND, posted_at + settings.close_offset, {"run_id": run_id}
    )
    return [*steps, *invites, close]


class FollowUps:
    """Plans and cancels the jobs that follow a case's post."""

    def __init__(self, scheduler: SchedulerService, settings: CasusSettings) -> None:
        self.scheduler = scheduler
        self.settings = settings

    async def schedule(self, run: RunRecord) -> None:
        """From the moment the case was posted; jobs already planned stay as they are."""
        if run.posted_at is None:
            return
        for job in followups(run.id, run.posted_at, self.settings):
            await self.scheduler.schedule_once(job.job_id, job.kind, job.run_at, job.payload, replace=False)

    async def cancel(self, run: RunRecord) -> None:
        """A case closed early: what was still planned for it would come too late."""
        # Only the ids matter here; they are the ones schedule() used.
        for job in followups(run.id, run.posted_at or run.claimed_at, self.settings):
            await self.scheduler.cancel(job.job_id)
