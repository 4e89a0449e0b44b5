"""The services a feature receives at set-up; passed in, never imported as globals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.clock import Clock
from bot.config import Config
from bot.content import Professions
from bot.i18n import Catalogue
from bot.members import MemberService
from bot.personal_data import PrivacyRegistry
from bot.privacy_guard import PrivacyGuard
from bot.roles import RoleService
from bot.room_directory import RoomDirectory
from bot.storage import Database
from bot.transport import Transport

if TYPE_CHECKING:
    from bot.conversations import ConversationService
    from bot.nudges import NudgeService
    from bot.outbox import Outbox
    from bot.polls import PollService
    from bot.registry import Registry
    from bot.scheduler import SchedulerService


@dataclass
class Services:
    config: Config
    db: Database
    transport: Transport
    catalogue: Catalogue
    clock: Clock
    rooms: RoomDirectory
    members: MemberService
    roles: RoleService
    privacy: PrivacyRegistry
    guard: PrivacyGuard
    professions: Professions
    scheduler: SchedulerService
    outbox: Outbox
    nudges: NudgeService
    conversations: ConversationService
    registry: Registry
    polls: PollService
