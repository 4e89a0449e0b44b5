"""``!event peiling``: which of several dates suits the members, asked as a poll in the
events room; ``!event peiling sluit <n>`` ends it and posts the result."""

from __future__ import annotations

from bot.context import Context
from bot.errors import UserError
from bot.i18n import format_date
from bot.polls import numbered
from bot.registry import check, command
from bot.transport import Poll
from commands.events.base import EventsBase, organiser_only
from commands.events.planning import TITLE_LIMIT, parse_dates

#: The purpose of the date polls (:mod:`bot.polls`); their ``ref`` is their number.
DATE_POLLS = "events.dates"


class DatePollCommands(EventsBase):
    @command("event peiling", aliases=["event poll", "event datumpeiling"], english="event poll")
    @check(organiser_only)
    async def date_poll(self, ctx: Context, subject: str, *, dates: str) -> None:
        """Ask the events room which dates suit, for an event (its number) or a title."""
        room = self.services.rooms.room_id(self.settings.room)
        if room is None:
            raise UserError("events.error.no_room")
        title = await self._poll_title(subject)
        today = self.services.clock.now().date()
        days = parse_dates(dates, today)
        if len(days) < 2:
            raise UserError("events.poll.two_dates")
        if days[0] < today:
            raise UserError("events.error.in_past")
        polls = self.services.polls
        number = await polls.count(DATE_POLLS) + 1
        language = self.services.config.community.language
        catalogue = self.services.catalogue
        poll = Poll(
            catalogue.plain(language, "events.poll.question", title=title),
            numbered([format_date(day, language, "EEEE d MMMM") for day in days]),
            # "Which dates suit you": members may pick every date they can make.
            max_selections=len(days),
        )
        await polls.start(
            room, poll, purpose=DATE_POLLS, ref=str(number), language=language, txn_id=ctx.next_txn_id()
        )
        alias = self.services.config.all_rooms().get(self.settings.room, self.settings.room)
        await ctx.reply("events.poll.started", number=number, room=alias)

    @command(
        "event peiling sluit", aliases=["event poll close", "event peiling einde"], english="event poll close"
    )
    @check(organiser_only)
    async def close_date_poll(self, ctx: Context, number: int) -> None:
        """End a date poll and post its result in the events room."""
        polls = self.services.polls
        poll = await polls.latest(purpose=DATE_POLLS, ref=str(number), open_only=False)
        if poll is None:
            raise UserError("events.poll.not_found", number=number)
        if poll.ended:
            raise UserError("events.poll.already_closed", number=number)
        tally = await polls.end(poll, txn_id=ctx.next_txn_id())
        leaders = ", ".join(a.text for a in tally.leaders())
        if leaders:
            await ctx.reply("events.poll.closed", number=number, leaders=leaders, count=tally.voters)
        else:
            await ctx.reply("events.poll.closed_no_votes", number=number)

    async def _poll_title(self, subject: str) -> str:
        """An event's title (by its number), or the title given; posted, so screened."""
        if subject.isascii() and subject.isdigit() and len(subject) < 10:
            return (await self._event(int(subject))).title
        title = subject.strip()
        if not title or len(title) > TITLE_LIMIT:
            raise UserError("events.poll.title", limit=TITLE_LIMIT)
        await self.services.guard.check(title)
        return title
