"""Posting cases: each theme's schedule, the claim of a slot, the root post, and the
steps that follow it in the thread.

Nothing is skipped or doubled by a restart: a post is claimed in ``casus_runs``
(unique per theme and slot) before it is sent with a transaction id derived from the
run; the steps are durable one-off jobs whose messages leave through the outbox with
deterministic transaction ids.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from bot.ids import RoomId
from bot.scheduler.cron import next_fire_times
from bot.transport import OutgoingMessage
from commands.casus.closing import Closing
from commands.casus.jobs import POST_KIND, PUBLISH_KIND, PUBLISH_RETRY, FollowUps, post_job_id, publish_job_id
from commands.casus.rotation import Pick, perspective_meter, pick_next, scheduled_pick
from commands.casus.settings import ThemeSchedule
from commands.casus.state import CasusState
from commands.casus.store import CLAIMED, OPEN, RunRecord
from commands.casus.text import CasusText

log = logging.getLogger(__name__)


class Posting:
    def __init__(self, state: CasusState, text: CasusText, followups: FollowUps, closing: Closing) -> None:
        self.state = state
        self.text = text
        self.followups = followups
        self.closing = closing

    # -- at start ------------------------------------------------------------------------

    async def plan_schedules(self, now: datetime) -> None:
        """One cron job per theme with a schedule; none for the others."""
        services, settings = self.state.services, self.state.settings
        for theme in services.config.themes:
            schedule = settings.schedule_of(theme.key)
            if schedule is None or not settings.enabled:
                await services.scheduler.cancel(post_job_id(theme.key))
                continue
            await self.state.store.schedule_since(theme.key, schedule.cron, schedule.every_weeks, now)
            await services.scheduler.schedule_cron(
                post_job_id(theme.key),
                POST_KIND,
                schedule.cron,
                {"theme": theme.key},
                timezone=services.config.community.timezone,
            )

    async def resume(self, now: datetime) -> None:
        """A claim whose post or jobs were cut short by a stop: finish it."""
        for run in await self.state.store.runs(CLAIMED, OPEN):
            if run.status == CLAIMED:
                await self._plan_publish(run, now)
            else:
                await self.followups.schedule(run)

    # -- the scheduled post --------------------------------------------------------------

    async def run_post(self, job_id: str, payload: dict[str, Any]) -> None:
        """A theme's cron fired: claim the slot it stands for and post the next case."""
        await self.state.load()
        settings = self.state.settings
        theme = str(payload["theme"])
        schedule = settings.schedule_of(theme)
        if schedule is None or not settings.enabled:
            return
        occurrence = datetime.fromisoformat(str(payload["occurrence"]))
        since = await self.state.store.schedule_since(theme, schedule.cron, schedule.every_weeks, occurrence)
        slot = self.due_slot(schedule, occurrence)
        if slot is None or slot < since:
            log.debug("casus: %s has no post due at %s", theme, occurrence.isoformat())
            return
        if not settings.posts_on(slot, self.state.services.config.community.timezone):
            log.info("casus: %s skips %s (a public holiday or the Christmas week)", theme, slot.date())
            return
        bank = self.state.bank(theme)
        if bank and scheduled_pick(bank, await self.state.store.history(theme)) is None:
            log.info("casus: %s has only the case it posted last; waiting for another", theme)
            return
        await self.post_next(theme, f"schedule:{slot.isoformat()}")

    def due_slot(self, schedule: ThemeSchedule, occurrence: datetime) -> datetime | None:
        """The latest fire time at or before ``occurrence`` in a week the schedule posts in.

        For ``every_weeks: 2`` a fire in an off week still settles the post of the week
        before, if that one was missed while the bot was down.
        """
        zone = self.state.services.config.community.timezone
        if schedule.week_matches(occurrence, zone):
            return occurrence
        latest: datetime | None = None
        moment = occurrence - timedelta(days=7 * schedule.every_weeks + 1)
        while True:
            fires = next_fire_times(schedule.cron, zone, moment, 1)
            if not fires or fires[0] > occurrence:
                return latest
            if schedule.week_matches(fires[0], zone):
                latest = fires[0]
            moment = fires[0]

    async def post_next(self, theme: str, slot: str, case_id: str | None = None) -> RunRecord | None:
        """Claim ``(theme, slot)`` and post its case (the next of the bank, or ``case_id``)."""
        services, store = self.state.services, self.state.store
        room = services.rooms.room_id(f"theme:{theme}")
        if room is None:
            log.warning("casus: no room for theme %s; nothing posted", theme)
            return None
        bank = self.state.bank(theme)
        previous = await store.current_run(theme)

        def choose(history: list[tuple[str, int]]) -> Pick | None:
            if case_id is not None:
                current = max((r for _, r in history), default=1)
                return Pick(case_id, current)
            return pick_next(bank, history)

        run, created = await store.claim_run(theme, slot, room, choose)
        if run is None:
            log.warning("casus: theme %s has no cases; nothing posted", theme)
            return None
        if created:
            if previous is not None and previous.id != run.id:
                # One case per theme at a time: the one before closes with its summary.
                await self.closing.close(previous.id)
            # What is due in the outbox (a summary closing the last case) goes out first.
            await services.outbox.deliver_due()
            # The safety net: should the post below be cut short, this job finishes it.
            await self._plan_publish(run, services.clock.now() + PUBLISH_RETRY)
        return await self.publish(run.id)

    async def _plan_publish(self, run: RunRecord, at: datetime) -> None:
        await self.state.services.scheduler.schedule_once(
            publish_job_id(run.id), PUBLISH_KIND, at, {"run_id": run.id}, replace=False
        )

    async def run_publish(self, job_id: str, payload: dict[str, Any]) -> None:
        await self.state.load()
        await self.publish(int(payload["run_id"]))

    async def publish(self, run_id: int) -> RunRecord | None:
        """Send a claimed run's first post and plan its steps; idempotent."""
        run = await self.state.store.get_run(run_id)
        if run is None:
            return None
        if run.status == CLAIMED:
            posted = await self._post_root(run)
            if posted is None or posted.status == CLAIMED:
                return posted
            run = posted
        if run.status == OPEN and run.root_event_id:
            self.state.open_roots[run.root_event_id] = run.id
            await self.followups.schedule(run)
        return run

    async def _post_root(self, run: RunRecord) -> RunRecord | None:
        """The case itself in the theme room; the run as it is after (still claimed when
        its case is unknown, None when the run is gone)."""
        case = self.state.case(run.case_id)
        if case is None:
            log.error("casus: run %d names unknown case %s; not posted", run.id, run.case_id)
            return run
        language = self.state.services.config.community.language
        meter = perspective_meter([], self.state.table)
        rendered = self.text.root(language, case, meter, self.state.submitter_of(case.id))
        # Sent directly, not through the outbox: the run needs the root's event id (its
        # thread and the reply listener hang on it), and the outbox does not return one.
        # The transaction id still makes a second attempt the same message.
        event_id = await self.state.services.transport.send(
            OutgoingMessage(
                room_id=RoomId(run.room_id),
                plain=rendered.plain,
                html=rendered.html,
                notice=False,
                txn_id=f"casus.{run.id}.root",
            )
        )
        posted = await self.state.store.mark_posted(run.id, event_id)
        if posted is not None:
            log.info("casus: run %d (%s, case %s) posted as %s", run.id, run.theme, run.case_id, event_id)
        return posted

    # -- the steps -----------------------------------------------------------------------

    async def run_step(self, job_id: str, payload: dict[str, Any]) -> None:
        """Step 2 or 3 of an open case, in its thread, with the meter as it stands."""
        await self.state.load()
        run_id, step = int(payload["run_id"]), int(payload["step"])
        store = self.state.store
        run = await store.get_run(run_id)
        if run is None or run.status != OPEN or not run.root_event_id:
            return
        await store.advance_step(run_id, step)
        case = self.state.case(run.case_id)
        if case is None:
            return
        language = self.state.services.config.community.language
        rendered = self.text.step(language, case, step, await self.state.meter(run_id))
        await self.state.post_in_thread(run, rendered, f"casus.{run_id}.step{step}")
