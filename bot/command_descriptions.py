"""Publishing the MSC4391 command descriptions in the community rooms at start-up.

Each community room gets one state event per command a member may run there (see
:mod:`bot.command_schema`); direct chats get none (a state event per command in every
member's DM would multiply the homeserver's state for little use). Only what differs
from the room's current state is sent, so a restart with the same commands sends
nothing, and descriptions of commands that are gone are blanked with ``{}`` once.
A room where the bot may not send state is skipped with one log line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot import command_schema
from bot.command_checks import is_place_check
from bot.context import Context
from bot.errors import CheckFailure, TransportError
from bot.ids import EventId, RoomId, UserId
from bot.registry import Command
from bot.services import Services
from bot.transport import IncomingMessage

log = logging.getLogger(__name__)


@dataclass
class PublishReport:
    """What one publishing pass did, for the log line and the benchmark."""

    rooms: int = 0
    sent: int = 0
    blanked: int = 0
    unchanged: int = 0
    skipped: list[RoomId] = field(default_factory=list)
    failed: list[RoomId] = field(default_factory=list)
    seconds: float = 0.0


class CommandDescriptions:
    """Keeps the rooms' command descriptions equal to the registry."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def usable_in(self, room_id: RoomId) -> list[Command]:
        """The publishable commands whose place checks (``in_room``, ``dm_only``) let a
        member run them in ``room_id``: the router's own checks, asked about the room."""
        probe = IncomingMessage(
            event_id=EventId("$kennisbrug-command-descriptions"),
            room_id=room_id,
            sender=self.services.transport.own_user_id,
            body="",
            timestamp=self.services.clock.now(),
            is_direct=False,
        )
        ctx = Context(self.services, probe, self.services.config.community.language)
        usable = []
        for command in self.services.registry.commands:
            if not command_schema.publishable(command):
                continue
            ctx.command = command
            try:
                for predicate in command.checks:
                    if is_place_check(predicate):
                        await predicate(ctx)
            except CheckFailure:
                continue
            usable.append(command)
        return usable

    async def wanted(self, room_id: RoomId) -> dict[str, command_schema.JSON]:
        return command_schema.descriptions(
            await self.usable_in(room_id),
            self.services.catalogue,
            self.services.config.community.language,
            self.services.transport.own_user_id,
        )

    async def publish(self, rooms: Iterable[RoomId] | None = None) -> PublishReport:
        """Bring every community room (or ``rooms``) up to date; never raises for one room."""
        started = time.perf_counter()
        report = PublishReport()
        # One room after the other: rooms side by side measured slower on a local Synapse
        # (69 s against 48 s for 480 events), and a homeserver's rate limit paces them anyway.
        for room_id in self.services.rooms.community_rooms() if rooms is None else rooms:
            report.rooms += 1
            try:
                await self._publish_room(room_id, report)
            except TransportError as exc:
                report.failed.append(room_id)
                log.warning("could not publish the command descriptions in %s: %s", room_id, exc)
        report.seconds = time.perf_counter() - started
        log.info(
            "command descriptions: %d sent, %d blanked, %d unchanged in %d rooms (%.1fs)%s%s",
            report.sent,
            report.blanked,
            report.unchanged,
            report.rooms,
            report.seconds,
            f"; skipped without power to send state: {', '.join(report.skipped)}" if report.skipped else "",
            f"; failed: {', '.join(report.failed)}" if report.failed else "",
        )
        return report

    async def _publish_room(self, room_id: RoomId, report: PublishReport) -> None:
        transport = self.services.transport
        own: UserId = transport.own_user_id
        event_type = command_schema.DESCRIPTION_EVENT_TYPE
        current = await transport.read_room_state(room_id, event_type)
        # Only our own descriptions: another bot's live under other state keys anyway.
        ours = {e.state_key: e.content for e in current.events if e.sender == own}
        plan = command_schema.changes(ours, await self.wanted(room_id))
        report.unchanged += plan.unchanged
        if plan.empty:
            return
        if not current.may_send:
            report.skipped.append(room_id)
            log.warning(
                "not publishing %d command descriptions in %s: the bot's power level there is "
                "below what sending %s needs",
                len(plan.put) + len(plan.blank),
                room_id,
                event_type,
            )
            return
        for key, content in plan.put.items():
            await transport.publish_room_state(room_id, event_type, key, content)
            report.sent += 1
        for key in plan.blank:
            await transport.publish_room_state(room_id, event_type, key, {})
            report.blanked += 1
