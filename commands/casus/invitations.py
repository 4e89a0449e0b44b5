"""Inviting the missing perspectives: after each step, a few listed members of every
profession not yet heard, who chose the case's theme, get a nudge with a question for
their profession. Nobody is invited twice for one case."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from bot.ids import UserId
from commands.casus.jobs import INVITE_NUDGE_KIND
from commands.casus.library import Case
from commands.casus.rotation import perspective_meter
from commands.casus.state import CasusState
from commands.casus.store import OPEN, RunRecord
from commands.casus.text import CasusText
from commands.introductions.records import ProfileRecord

log = logging.getLogger(__name__)


class Invitations:
    def __init__(self, state: CasusState, text: CasusText) -> None:
        self.state = state
        self.text = text

    async def run_invite(self, job_id: str, payload: dict[str, Any]) -> None:
        await self.state.load()
        await self.invite_missing(int(payload["run_id"]), int(payload["step"]))

    async def invite_missing(self, run_id: int, step: int) -> int:
        """Invite up to N listed members of each missing profession who chose the theme;
        returns how many invitations were planned."""
        store = self.state.store
        run = await store.get_run(run_id)
        if run is None or run.status != OPEN or not run.root_event_id or run.posted_at is None:
            return 0
        case = self.state.case(run.case_id)
        if case is None or self.state.settings.invite_per_profession == 0:
            return 0
        contributions = await store.contributions(run_id)
        missing = perspective_meter(contributions, self.state.table).missing
        if not missing:
            return 0
        candidates = await self._candidates(run, missing, {user for user, _ in contributions})
        planned = 0
        for profession, user_id in self._choose(run_id, missing, candidates, await store.invited(run_id)):
            if await self._invite(run, case, user_id, profession, step):
                planned += 1
        if planned:
            log.info("casus: run %d step %d: %d invitation(s) planned", run_id, step, planned)
        return planned

    def _choose(
        self, run_id: int, missing: tuple[str, ...], candidates: list[ProfileRecord], invited: set[str]
    ) -> list[tuple[str, str]]:
        """(profession, member) to invite: per profession as many as the number allows,
        counting those invited after an earlier step."""
        chosen: list[tuple[str, str]] = []
        for profession in missing:
            mine = [r.user_id for r in candidates if r.profession == profession]
            room_left = self.state.settings.invite_per_profession - sum(1 for u in mine if u in invited)
            waiting = sorted((u for u in mine if u not in invited), key=lambda u: _fair(run_id, u))
            chosen.extend((profession, user_id) for user_id in waiting[: max(room_left, 0)])
        return chosen

    async def _candidates(
        self, run: RunRecord, missing: tuple[str, ...], spoken: set[str]
    ) -> list[ProfileRecord]:
        """Listed members of a missing profession who chose the theme, have not spoken in
        this case and did not switch invitations off."""
        opted_out = await self.state.store.opted_out()
        bot_user = self.state.services.transport.own_user_id
        return [
            record
            for record in await self.state.profiles.listed()
            if record.profession in missing
            and run.theme in record.themes
            and record.user_id not in spoken
            and record.user_id not in opted_out
            and record.user_id != bot_user
        ]

    async def _invite(self, run: RunRecord, case: Case, user_id: str, profession: str, step: int) -> bool:
        """One invitation, recorded first so that it is never planned twice."""
        store = self.state.store
        if run.posted_at is None or run.root_event_id is None:
            return False  # not posted: nothing to invite to
        if not await store.add_invitation(run.id, user_id, profession, step):
            return False
        language = await self.state.services.members.language_of(UserId(user_id))
        question = case.role_question(profession, language) or self.state.services.catalogue.plain(
            language, "casus.invite.generic_question", profession=self.text.who(language, profession, 1)
        )
        nudge_id = await self.state.services.nudges.nudge(
            user_id,
            INVITE_NUDGE_KIND,
            "casus.invite.dm",
            {
                "title": case.title_in(language),
                "theme": self.text.theme_label(language, run.theme),
                "profession": self.text.who(language, profession, 1),
                "link": self.text.link(run.room_id, run.root_event_id),
                "question": question,
            },
            dedupe_key=f"casus:invite:{run.id}:{user_id}",
            # An invitation to a closed case is no use: it lapses when the case closes.
            expires_at=run.posted_at + self.state.settings.close_offset,
        )
        await store.set_invitation_nudge(run.id, user_id, nudge_id)
        return True


def _fair(run_id: int, user_id: str) -> str:
    """A stable shuffle per case: the same few are not always asked first."""
    return hashlib.sha256(f"{run_id}:{user_id}".encode()).hexdigest()
