"""One explicit wiring function: config in, a running bot out.

Everything a feature needs is built here and passed in; nothing is a module global.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.clock import Clock, SystemClock
from bot.command_descriptions import CommandDescriptions, PublishReport
from bot.config import Config
from bot.content import Professions
from bot.conversations import CONVERSATION_POLLS, ConversationService
from bot.core_data import CoreErasure
from bot.formatting import markup_from_json
from bot.health import Heartbeat
from bot.i18n import Catalogue
from bot.ids import UserId
from bot.members import MemberService
from bot.memory import MemoryUpkeep
from bot.nudges import NudgeService
from bot.nudges.timing import NudgePolicy
from bot.outbox import Outbox
from bot.personal_data import PrivacyRegistry
from bot.polls import PollService
from bot.privacy_guard import PrivacyGuard
from bot.registry import Feature, Registry
from bot.retention import Retention
from bot.roles import RoleService
from bot.room_directory import RoomDirectory
from bot.router import Router
from bot.scheduler import SchedulerService
from bot.services import Services
from bot.storage import Database
from bot.storage.lock import AlreadyRunning, InstanceLock
from bot.storage.migrate import migrate
from bot.tasks import cancel_and_wait
from bot.transport import Connection

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Feature packages, loaded in this order; each has setup(services) -> list[Feature].
FEATURE_MODULES: tuple[str, ...] = (
    "commands.basics",
    "commands.privacy",
    "commands.introductions",
    "commands.buddy",
    "commands.questions",
    "commands.casus",
    "commands.stats",
    "commands.digest",
    "commands.events",
    "commands.accreditation",
    "commands.organiser_web",
    "commands.calendar_feed",
)


def locale_directories() -> list[Path]:
    """The core's catalogue and every feature's, in a stable order."""
    dirs = [PROJECT_ROOT / "bot" / "locale"]
    dirs += sorted(p for p in (PROJECT_ROOT / "commands").glob("*/locale") if p.is_dir())
    return dirs


def load_catalogue(config: Config) -> Catalogue:
    catalogue = Catalogue.load(locale_directories(), default_language=config.community.language)
    catalogue.globals = {"prefix": config.community.command_prefix, "community": config.community.name}
    return catalogue


def revive_markup(params: dict[str, Any]) -> dict[str, Any]:
    """A nudge's stored parameters with prepared fragments (see
    :func:`~bot.formatting.markup_to_json`, e.g. a digest's sections) turned back into
    :class:`~bot.formatting.Markup`; member text in them stays escaped."""
    revived: dict[str, Any] = {}
    for name, value in params.items():
        markup = markup_from_json(value)
        revived[name] = value if markup is None else markup
    return revived


@dataclass
class App:
    services: Services
    router: Router
    transport: Connection  # MatrixTransport in production
    #: Publishing the MSC4391 command descriptions, started with the features.
    command_descriptions: asyncio.Task[PublishReport] | None = field(default=None, repr=False)

    @property
    def features(self) -> list[Feature]:
        return self.services.registry.features

    async def start_features(self) -> None:
        # Nudges saved just before a crash may lack their job; restore before arming.
        await self.services.nudges.restore()
        await self.services.scheduler.start()
        await self.services.outbox.start()
        for feature in self.features:
            await feature.start()
        # In the background: a first start sends a state event per command and room,
        # paced by the homeserver's rate limits; members need not wait for it.
        if self.services.config.matrix.command_descriptions:
            self.command_descriptions = asyncio.create_task(
                CommandDescriptions(self.services).publish(), name="command-descriptions"
            )

    async def stop_background(self) -> None:
        task, self.command_descriptions = self.command_descriptions, None
        await cancel_and_wait(task)

    async def stop(self) -> None:
        await self.stop_background()
        for feature in reversed(self.features):
            try:
                await feature.stop()
            except Exception:
                log.exception("feature %s failed to stop", feature.name)
        await self.services.outbox.stop()
        await self.services.scheduler.shutdown()
        await self.services.db.dispose()


def room_names(config: Config, catalogue: Catalogue) -> dict[str, tuple[str, str]]:
    """Names and topics of the community rooms in the community's language."""
    lang = config.community.language
    names: dict[str, tuple[str, str]] = {}
    for logical in config.rooms:
        key = logical if catalogue.has(f"core.rooms.{logical}.name") else "other"
        names[logical] = (
            catalogue.plain(lang, f"core.rooms.{key}.name", name=logical.capitalize()),
            catalogue.plain(lang, f"core.rooms.{key}.topic"),
        )
    for theme in config.themes:
        names[f"theme:{theme.key}"] = (theme.label(lang), theme.topic.get(lang, ""))
    return names


async def build_app(
    config: Config,
    *,
    clock: Clock | None = None,
    transport_factory: Callable[[Config, Database, Clock, RoomDirectory], Connection] | None = None,
    feature_modules: tuple[str, ...] = FEATURE_MODULES,
    db: Database | None = None,
    transport_clock: Clock | None = None,
) -> App:
    """Build every service, migrate the database and load the features.

    ``transport_clock`` is the time the network is judged by (what is history, when a
    sync was last good); it is ``clock`` unless a test moves the bot's own time.
    """
    clock = clock or SystemClock()
    db = db or Database(config.database.url)
    await migrate(db, (*feature_modules, *config.plugins))
    rooms = RoomDirectory()
    if transport_factory is None:
        from bot.matrix import MatrixTransport

        transport_factory = MatrixTransport
    transport = transport_factory(config, db, transport_clock or clock, rooms)
    services = build_services(config, db, clock, transport, rooms)
    register_core_privacy(services)
    services.registry.add_feature(Retention(services))  # first: prunes before features rebuild jobs
    for module_name in (*feature_modules, *config.plugins):
        module = importlib.import_module(module_name)
        for feature in module.setup(services):
            services.registry.add_feature(feature)
    router = Router(services)
    # Flood buckets are kept per sender, in memory only; a forgotten member's goes too.
    async def forget_flood(user_id: UserId) -> int:
        return router.flood.forget(user_id)

    services.privacy.register("core.flood", _nothing_to_export, forget_flood)
    return App(services=services, router=router, transport=transport)


async def _nothing_to_export(user_id: UserId) -> dict[str, Any]:
    return {}


def build_services(
    config: Config, db: Database, clock: Clock, transport: Connection, rooms: RoomDirectory
) -> Services:
    """The core's services, wired to each other; features receive them in ``setup()``."""
    catalogue = load_catalogue(config)
    scheduler = SchedulerService(db, clock, config.community.timezone)
    outbox = Outbox(
        db,
        transport,
        clock,
        max_backoff_s=config.matrix.max_retry_wait_s,
        concurrency=config.matrix.outbox_concurrency,
    )
    members = MemberService(
        db,
        clock,
        config.community.language,
        transport=transport,
        catalogue=catalogue,
        outbox=outbox,
        command_prefix=config.community.command_prefix,
    )
    return Services(
        config=config,
        db=db,
        transport=transport,
        catalogue=catalogue,
        clock=clock,
        rooms=rooms,
        members=members,
        roles=RoleService(config.community, transport, rooms),
        privacy=PrivacyRegistry(),
        guard=PrivacyGuard(catalogue),
        professions=Professions.load(config.community.professions_file),
        scheduler=scheduler,
        outbox=outbox,
        nudges=build_nudges(config, db, clock, scheduler, members),
        conversations=ConversationService(db, clock),
        registry=Registry(),
        polls=PollService(db, clock, transport, catalogue),
    )


def build_nudges(
    config: Config, db: Database, clock: Clock, scheduler: SchedulerService, members: MemberService
) -> NudgeService:
    async def deliver_nudge(
        nudge_id: int, user_id: str, message_key: str, params: dict[str, Any], planned_for: datetime
    ) -> None:
        # The nudge's own job is the durable record; the outbox adds the rate-limited send.
        await members.tell(
            UserId(user_id),
            message_key,
            txn_id=f"kb.nudge.{nudge_id}",
            due_at=planned_for,
            **revive_markup(params),
        )

    policy = NudgePolicy(
        weekly_budget=config.nudges.weekly_budget,
        quiet_start=config.nudges.quiet_start,
        quiet_end=config.nudges.quiet_end,
        quiet_weekends=config.nudges.quiet_weekends,
        timezone=config.community.timezone,
    )
    return NudgeService(db, scheduler, clock, policy, deliver_nudge)


def register_core_privacy(services: Services) -> None:
    """What the core itself keeps per member, for ``!mijngegevens`` and ``!vergeet-mij``."""
    privacy = services.privacy
    privacy.register("core.members", services.members.export_member, services.members.erase_member)
    privacy.register(
        "core.conversations", services.conversations.export_member, services.conversations.erase_member
    )
    privacy.register("core.nudges", services.nudges.export_member, services.nudges.erase_member)
    # Named to sort before core.direct_room: erasing the votes also drops the polls in the
    # member's DM, found through that room's record.
    privacy.register("core.ballots", services.polls.export_member, services.polls.erase_member)
    services.polls.on_vote(CONVERSATION_POLLS, services.conversations.on_poll_vote)
    erasure = CoreErasure(services.db, services.transport, services.scheduler)
    privacy.register("core.direct_room", erasure.export_direct_room, erasure.erase_direct_room)
    privacy.register("core.reactions", erasure.export_reactions, erasure.erase_reactions)
    privacy.register("core.outbox", erasure.export_outbox, erasure.erase_outbox)
    privacy.register("core.jobs", erasure.export_jobs, erasure.erase_jobs)
    privacy.register("core.encryption", erasure.export_transport, erasure.erase_transport)


async def run(
    config: Config,
    *,
    ready: asyncio.Event | None = None,
    clock: Clock | None = None,
    on_app: Callable[[App], None] | None = None,
) -> None:
    """Connect, set up the community, start features and handle events until stopped.

    ``clock`` and ``on_app`` are for tests that run the real bot at a moved time and
    look at its services. Raises :class:`~bot.storage.lock.AlreadyRunning` when another
    bot holds the database.
    """
    db = Database(config.database.url)
    lock = InstanceLock(db)
    try:
        await lock.acquire()
    except AlreadyRunning:
        await db.dispose()
        raise
    try:
        await _run_locked(config, db, ready, clock, on_app, lock)
    finally:
        await lock.release()


async def _run_locked(
    config: Config,
    db: Database,
    ready: asyncio.Event | None,
    clock: Clock | None,
    on_app: Callable[[App], None] | None,
    lock: InstanceLock,
) -> None:
    # A moved clock moves the bot's own time; the homeserver's stays real.
    app = await build_app(config, db=db, clock=clock, transport_clock=SystemClock() if clock else None)
    if on_app is not None:
        on_app(app)
    transport = app.transport
    heartbeat = Heartbeat(
        db,
        app.services.clock,
        lambda: transport.last_sync_ok,
        lambda: app.services.scheduler.started,
        keep_lock=lock.keep,
    )
    memory = MemoryUpkeep(lambda: transport.last_sync_ok)
    try:
        await transport.connect()
        await transport.setup_community(
            room_names(config, app.services.catalogue),
            app.services.catalogue.plain(config.community.language, "core.rooms.space.name"),
        )
        await app.start_features()
        heartbeat.start()
        memory.start()
        log.info("bot started with %d commands", len(app.services.registry.commands))
        if ready is not None:
            ready.set()
        await transport.run(app.router.dispatch)
    finally:
        await memory.stop()
        await heartbeat.stop()
        await app.stop_background()
        await transport.stop()
        await app.stop()


__all__ = ["App", "build_app", "run"]
