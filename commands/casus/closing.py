"""Closing a case: its follow-ups cancelled, the listener let go, and a summary in its
thread of who was heard and who is still missing."""

from __future__ import annotations

import logging
from typing import Any

from commands.casus.jobs import FollowUps
from commands.casus.rotation import perspective_meter
from commands.casus.state import CasusState
from commands.casus.store import CLOSED
from commands.casus.text import CasusText

log = logging.getLogger(__name__)


class Closing:
    def __init__(self, state: CasusState, text: CasusText, followups: FollowUps) -> None:
        self.state = state
        self.text = text
        self.followups = followups

    async def run_close(self, job_id: str, payload: dict[str, Any]) -> None:
        await self.state.load()
        await self.close(int(payload["run_id"]))

    async def close(self, run_id: int) -> bool:
        """Close a run and post its summary in the thread; idempotent. True when closed now.

        The summary goes out again on every call; its transaction id makes it one message.
        """
        store = self.state.store
        closed_now = await store.close_run(run_id)
        run = await store.get_run(run_id)
        if run is None or run.status != CLOSED or not run.root_event_id:
            return False
        self.state.open_roots.pop(run.root_event_id, None)
        if closed_now:
            await self.followups.cancel(run)
        language = self.state.services.config.community.language
        contributions = await store.contributions(run_id)
        meter = perspective_meter(contributions, self.state.table)
        case = self.state.case(run.case_id)
        title = case.title_in(language) if case else run.case_id
        # Names are links, but nobody is pinged: thanks, not a call to come back.
        summary = self.text.summary(language, title, meter, contributions)
        await self.state.post_in_thread(run, summary, f"casus.{run_id}.summary")
        if closed_now:
            log.info("casus: run %d closed with %d contribution(s)", run_id, len(contributions))
        return closed_now
