"""What every part of the Events feature shares: the state the command groups read and
the organiser check.

The feature is one :class:`~bot.registry.Feature` (one name in help, one privacy hook)
assembled from command groups (``commands_*.py``), each a mixin of :class:`EventsBase`
so that its commands stay decorated methods the registry finds. The work behind the
commands lives in plain parts (rendering, cards, notify, sign-ups, jobs, sources) that
:class:`~commands.events.feature.Events` builds once and hands around.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.context import Context
from bot.errors import CheckFailure, UserError
from bot.registry import Feature
from commands.events.records import EventRecord
from commands.events.store import DRAFT, EventStore

if TYPE_CHECKING:
    from commands.events.cards import Cards
    from commands.events.jobs import Jobs
    from commands.events.notify import Notify
    from commands.events.rendering import Rendering
    from commands.events.settings import EventSettings
    from commands.events.signups import SignUps
    from commands.introductions.store import ProfileStore


async def find_event(store: EventStore, event_id: int, *, drafts: bool = False) -> EventRecord:
    """The event a member or organiser named; drafts only where asked for."""
    event = await store.get(event_id)
    if event is None or (event.status == DRAFT and not drafts):
        raise UserError("events.error.not_found", id=event_id)
    return event


class EventsBase(Feature):
    """The attributes the command groups share; set by ``Events.__init__``."""

    name = "events"

    settings: EventSettings
    timezone: str
    store: EventStore
    profiles: ProfileStore
    rendering: Rendering
    cards: Cards
    notify: Notify
    signups: SignUps
    jobs: Jobs

    async def _event(self, event_id: int, *, drafts: bool = False) -> EventRecord:
        return await find_event(self.store, event_id, drafts=drafts)

    def _themes(self) -> dict[str, dict[str, str]]:
        """The configured themes, as :func:`~commands.events.planning.parse_options` reads them."""
        return {t.key: dict(t.name) for t in self.services.config.themes}


async def organiser_only(ctx: Context) -> None:
    """Moderators, admins and the organisers named in the config."""
    feature = ctx.command.feature if ctx.command is not None else None
    organisers = feature.settings.organisers if isinstance(feature, EventsBase) else ()
    if ctx.sender in organisers:
        return
    if not await ctx.services.roles.is_moderator(ctx.sender):
        raise CheckFailure("events.error.organisers_only")
