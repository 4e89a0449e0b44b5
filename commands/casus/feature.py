"""Casus prompts: a case posted on a schedule in each theme room, in three steps
(beeldvorming, oordeelsvorming, besluitvorming), a perspective meter that shows which
professions have spoken, invitations to those still missing, a closing summary, and
cases that members bring in themselves.

The feature is one class, so that help lists its commands in one group; its commands
and listener live in mixins by subject (:mod:`.cases`, :mod:`.submissions`,
:mod:`.replies`, :mod:`.sources`), its jobs in parts it holds (:mod:`.posting`,
:mod:`.closing`, :mod:`.invitations`), all sharing one :class:`.CasusState`.
"""

from __future__ import annotations

from bot.registry import Feature
from bot.scheduler.firing import JobHandler
from bot.scheduler.policy import MissedPolicy
from bot.services import Services
from commands.casus.cases import CaseCommands
from commands.casus.closing import Closing
from commands.casus.flow import SubmitFlow
from commands.casus.invitations import Invitations
from commands.casus.jobs import CLOSE_KIND, INVITE_KIND, POST_KIND, PUBLISH_KIND, STEP_KIND, FollowUps
from commands.casus.posting import Posting
from commands.casus.replies import ReplyCounting
from commands.casus.sources import CasusSources
from commands.casus.state import CasusState
from commands.casus.submissions import SubmissionCommands
from commands.casus.text import CasusText


class Casus(CaseCommands, SubmissionCommands, ReplyCounting, CasusSources, Feature):
    name = "casus"

    def __init__(self, services: Services) -> None:
        """Builds the parts; nothing is registered anywhere until :meth:`register`."""
        super().__init__(services)
        self.state = CasusState.build(services)
        self.text = CasusText(services, self.state.settings)
        self.followups = FollowUps(services.scheduler, self.state.settings)
        self.closing = Closing(self.state, self.text, self.followups)
        self.posting = Posting(self.state, self.text, self.followups, self.closing)
        self.invitations = Invitations(self.state, self.text)
        self.flow = SubmitFlow(services, self.finish_submission)

    def register(self) -> None:
        """The conversation, the privacy hooks and the job kinds, with their services."""
        self.services.conversations.register(self.flow)
        self.services.privacy.register("casus", self.store.export_member, self.state.erase_member)
        jobs: dict[str, JobHandler] = {
            POST_KIND: self.posting.run_post,
            PUBLISH_KIND: self.posting.run_publish,
            STEP_KIND: self.posting.run_step,
            INVITE_KIND: self.invitations.run_invite,
            CLOSE_KIND: self.closing.run_close,
        }
        # A job missed while the bot was down still runs: each one checks its case first.
        for kind, handler in jobs.items():
            self.services.scheduler.register(kind, handler, MissedPolicy.always())

    async def start(self) -> None:
        await self.state.load()
        now = self.services.clock.now()
        await self.posting.plan_schedules(now)
        await self.posting.resume(now)
