"""The command line behind ``run_bot.py``: parses arguments and calls into the bot."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from bot.config import Config, load_config
from bot.errors import CommunitySetupError, ConfigError, InvalidCredentials, TransportError
from bot.permissions import restrict_umask, tighten

DEFAULT_CONFIG = Path("config/example.yaml")

DESCRIPTION = """\
Kennisbrug: a Matrix community bot for the professionals of the Dutch sick-leave
reintegration chain.

commands:
  run           run the bot against the homeserver named in the config
  demo          start a local homeserver (data in .demo/), the bot, and a terminal chat
  check-config  validate a config file; exit 0, or list every problem and exit 1
  migrate       bring the database to the newest schema
  revision      write a new migration for one feature's model changes
  health        report the running bot's health as JSON (exit 0 healthy, 1 not)

Secrets may come from the environment: KENNISBRUG_MATRIX_PASSWORD,
KENNISBRUG_MATRIX_ACCESS_TOKEN, KENNISBRUG_DATABASE_URL.
"""


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    # Libraries that would log request bodies, SQL parameters (message texts) or tokens
    # at lower levels stay quiet whatever the bot's own level.
    for noisy in (
        "nio",
        "aiohttp",
        "apscheduler",
        "alembic",
        "sqlalchemy",
        "aiosqlite",
        "asyncpg",
        "MARKDOWN",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # nio warns on every 404 of an alias look-up, which room set-up does on purpose.
    logging.getLogger("nio.responses").setLevel(logging.ERROR)


def _load(path: Path) -> Config:
    return load_config(path)


def cmd_check_config(args: argparse.Namespace) -> int:
    from bot.checkconfig import check_everything

    problems = check_everything(args.config)
    if problems:
        print(f"{args.config}: {len(problems)} problem(s):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"{args.config}: OK")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from bot.storage import Database
    from bot.storage.migrate import migrate

    config = _load(args.config)
    configure_logging(config.log_level)
    tighten(_data_paths(config))

    async def go() -> tuple[str | None, str | None]:
        db = Database(config.database.url)
        try:
            return await migrate(db, config.plugins)
        finally:
            await db.dispose()

    before, after = asyncio.run(go())
    print(f"database schema: {before or 'empty'} -> {after}")
    return 0


def cmd_revision(args: argparse.Namespace) -> int:
    from bot.storage.migrate import SchemaError, new_revision

    plugins = _load(args.config).plugins if args.config is not None else ()
    configure_logging("WARNING")
    try:
        written = asyncio.run(new_revision(args.feature, args.message, plugins))
    except SchemaError as exc:
        print(f"revision: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


EXIT_INVALID_CREDENTIALS = 3
EXIT_ALREADY_RUNNING = 4
EXIT_COMMUNITY = 5
EXIT_TRANSPORT = 6


async def _serve(config: Config) -> None:
    """Run the bot; SIGTERM (a service manager's stop) ends it as cleanly as Ctrl-C."""
    from bot.app import run

    main_task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if main_task is not None:
        loop.add_signal_handler(signal.SIGTERM, main_task.cancel)
    try:
        await run(config)
    except asyncio.CancelledError:
        logging.getLogger("kennisbrug").info("stopped")


def cmd_run(args: argparse.Namespace) -> int:
    from bot.storage.lock import AlreadyRunning

    config = _load(args.config)
    configure_logging(config.log_level)
    tighten(_data_paths(config))
    try:
        asyncio.run(_serve(config))
    except KeyboardInterrupt:
        return 0
    except InvalidCredentials as exc:
        print(
            f"Kennisbrug stopped: {exc}.\nTo log in again, configure matrix.password (or "
            "KENNISBRUG_MATRIX_PASSWORD) or a new matrix.access_token.",
            file=sys.stderr,
        )
        return EXIT_INVALID_CREDENTIALS
    except AlreadyRunning as exc:
        print(f"Kennisbrug did not start: {exc}", file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    except CommunitySetupError as exc:
        print(f"Kennisbrug did not start: {exc}.", file=sys.stderr)
        return EXIT_COMMUNITY
    except TransportError as exc:
        print(f"Kennisbrug stopped: {exc}.", file=sys.stderr)
        return EXIT_TRANSPORT
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    from bot.clock import SystemClock
    from bot.health import read_health
    from bot.storage import Database

    config = _load(args.config)

    async def go() -> dict[str, object]:
        db = Database(config.database.url)
        try:
            return (await read_health(db, SystemClock())).as_dict()
        finally:
            await db.dispose()

    report = asyncio.run(go())
    print(json.dumps(report))
    return 0 if report["healthy"] else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.devtools.demo import run_demo

    configure_logging("WARNING" if not args.verbose else "INFO")
    try:
        return asyncio.run(run_demo(Path(args.data), Path(args.config), reset=args.reset))
    except KeyboardInterrupt:
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_bot.py", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the bot against the configured homeserver")
    run.add_argument("--config", type=Path, required=True, help="path of the YAML config")
    run.set_defaults(func=cmd_run)
    check = sub.add_parser("check-config", help="validate a config and explain every problem")
    check.add_argument("--config", type=Path, required=True)
    check.set_defaults(func=cmd_check_config)
    mig = sub.add_parser("migrate", help="bring the database to the newest schema")
    mig.add_argument("--config", type=Path, required=True)
    mig.set_defaults(func=cmd_migrate)
    rev = sub.add_parser(
        "revision",
        help="write a new migration for one feature's model changes",
        description="Compare FEATURE's models with a temporary SQLite database brought to every "
        "head and write the difference as a new Alembic revision into FEATURE's migrations folder "
        "(core: bot/storage/migrations/versions). FEATURE is a schema name (core, events, ...) or "
        "a feature module; a plugin's needs --config naming it in plugins. Read the file before "
        "committing it: autogenerate misses renames and data changes.",
    )
    rev.add_argument("feature", help="the feature whose tables changed, e.g. events")
    rev.add_argument("-m", "--message", required=True, help="what the revision changes")
    rev.add_argument("--config", type=Path, help="a config whose plugins are loaded too")
    rev.set_defaults(func=cmd_revision)
    health = sub.add_parser(
        "health",
        help="report the running bot's health (exit 0 healthy, 1 not)",
        description="Print last successful sync age, scheduler, database and outbox backlog as JSON, "
        "read from the database the running bot writes its heartbeat to.",
    )
    health.add_argument("--config", type=Path, required=True)
    health.set_defaults(func=cmd_health)
    demo = sub.add_parser(
        "demo",
        help="local homeserver + bot + terminal chat as a demo member",
        description="Start a real local Synapse (data in .demo/), register the bot, an admin and a "
        "demo member, create the community from the config, start the bot and open a terminal "
        "chat in the welcome room. Ctrl-C stops everything; a second run reuses the data.",
    )
    demo.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="rooms and themes to create")
    demo.add_argument("--data", default=".demo", help="where the demo keeps its data (default .demo)")
    demo.add_argument("--reset", action="store_true", help="start from scratch (deletes the data folder)")
    demo.add_argument("--verbose", action="store_true", help="show the bot's log")
    demo.set_defaults(func=cmd_demo)
    return parser


def _data_paths(config: Config) -> list[Path]:
    """The database file (SQLite) and the crypto store: what must be owner-only."""
    paths = [Path(config.matrix.store_path)]
    prefix = "sqlite+aiosqlite:///"
    if config.database.url.startswith(prefix):
        location = config.database.url[len(prefix) :].split("?", 1)[0]
        if location and location != ":memory:":
            database = Path(location).expanduser()
            paths += [database.with_name(database.name + suffix) for suffix in ("", "-wal", "-shm")]
    return paths


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Before anything is written: the database and crypto store are for the bot's eyes.
    restrict_umask()
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print("configuration problem(s):\n  - " + "\n  - ".join(exc.problems), file=sys.stderr)
        return 2
