"""What the casus command groups, listener and sources share. Each group is a mixin of
:class:`~commands.casus.feature.Casus`, so the registry finds every command and listener
on the one feature; the parts they use are set by it."""

from __future__ import annotations

from bot.context import Context
from bot.services import Services
from commands.casus.closing import Closing
from commands.casus.invitations import Invitations
from commands.casus.posting import Posting
from commands.casus.state import CasusState
from commands.casus.store import CasusStore
from commands.casus.text import CasusText


class CasusParts:
    services: Services
    state: CasusState
    text: CasusText
    posting: Posting
    closing: Closing
    invitations: Invitations

    @property
    def store(self) -> CasusStore:
        return self.state.store

    def theme_here(self, ctx: Context) -> str | None:
        """The theme of the room a command was given in, if it is a theme room."""
        return self.services.rooms.theme_of(ctx.room_id)
