"""``!stem 2``: answer a poll by typing, for members whose client shows no polls.

It is the same record as tapping the answer in a poll (:mod:`bot.polls`): a member's
latest answer replaces their earlier one, whichever way each came.
"""

from __future__ import annotations

from bot.context import Context
from bot.errors import UserError
from bot.polls import StartedPoll
from bot.registry import Feature, command
from bot.textnorm import split_list

#: The reaction that tells a member their typed vote counted (a reply per vote would
#: fill a room with notices).
COUNTED = "✅"


class PollCommands(Feature):
    @command("stem", aliases=["kies"], english="vote")
    async def vote(self, ctx: Context, *, choices: str) -> None:
        """Answer a poll with the number(s) of your choice (the newest in this room, or
        the one you reply to)."""
        poll = await self._poll_for(ctx)
        numbers = _numbers(choices)
        known = {a.id for a in poll.poll.answers}
        for number in numbers:
            if number not in known:
                raise UserError("core.poll.not_an_answer", answer=number[:20], count=len(poll.poll.answers))
        if len(numbers) > poll.poll.max_selections:
            raise UserError("core.poll.too_many", count=poll.poll.max_selections)
        cast = await self.services.polls.vote(ctx, poll, numbers, ctx.message.timestamp)
        if not cast.counted and not poll.is_open:
            raise UserError("core.poll.closed")
        if cast.counted:
            await ctx.react(COUNTED)

    async def _poll_for(self, ctx: Context) -> StartedPoll:
        """The poll replied to, else the newest open one in the room."""
        polls = self.services.polls
        if ctx.message.reply_to is not None:
            replied = await polls.get(ctx.message.reply_to)
            if replied is not None and replied.room_id == ctx.room_id:
                if not replied.is_open:
                    raise UserError("core.poll.closed")
                return replied
        poll = await polls.latest(ctx.room_id)
        if poll is None:
            newest = await polls.latest(ctx.room_id, open_only=False)
            raise UserError("core.poll.closed" if newest is not None else "core.poll.none_open")
        return poll


def _numbers(text: str) -> tuple[str, ...]:
    """``2``, ``1 3``, ``1, 3`` or ``1 en 3`` as answer ids (numbers without leading zeros)."""
    parts = [p for chunk in split_list(text) for p in chunk.split()]
    numbers = []
    for part in parts:
        cleaned = part.strip().rstrip(".")
        # Short digit strings only: polls have at most 20 answers, and int() of a
        # thousands-digit string is refused (and slow).
        numbers.append(
            str(int(cleaned)) if cleaned.isascii() and cleaned.isdigit() and len(cleaned) <= 3 else cleaned
        )
    return tuple(dict.fromkeys(n for n in numbers if n))
