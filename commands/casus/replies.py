"""Replies in a case's thread, counted for the replier's profession; a member without a
profile is invited, once ever, to introduce themselves."""

from __future__ import annotations

from bot.ids import RoomId, UserId
from bot.registry import listener
from bot.transport import IncomingMessage
from commands.casus.jobs import HINT_NUDGE_KIND
from commands.casus.parts import CasusParts
from commands.casus.rotation import UNKNOWN


class ReplyCounting(CasusParts):
    @listener(IncomingMessage)
    async def count_reply(self, message: IncomingMessage) -> None:
        """Count a reply in an open case's thread for the replier's profession."""
        root = message.thread_root
        if root is None:
            return
        run_id = self.state.open_roots.get(root)
        if run_id is None:
            return
        profile = await self.state.profiles.get(message.sender)
        profession = profile.profession if profile is not None else UNKNOWN
        run = await self.store.get_run(run_id)
        step = run.step if run is not None else 1
        counted = await self.store.add_contribution(
            message.event_id, run_id, message.sender, profession, step
        )
        if counted and profile is None:
            await self._hint_intro(message.sender, message.room_id)

    async def _hint_intro(self, user_id: UserId, room_id: RoomId) -> None:
        """One friendly DM, ever, inviting a member without a profile to ``!intro``."""
        marker = await self.store.claim_intro_hint(user_id)
        if marker is None:
            return
        language = self.services.config.community.language
        theme = self.text.theme_label(language, self.services.rooms.theme_of(room_id) or "")
        await self.services.nudges.nudge(
            user_id,
            HINT_NUDGE_KIND,
            "casus.intro_hint",
            {"theme": theme},
            dedupe_key=f"casus:intro-hint:{marker[:40]}",
        )
