"""The command line behind ``run_bot.py`` and the installed ``kennisbrug`` command: parses
arguments and calls into the bot."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from bot.cli_cross_sign import add_cross_sign_command
from bot.config import Config, load_config
from bot.errors import (
    CommunitySetupError,
    ConfigError,
    InvalidCredentials,
    KennisbrugError,
    TransportError,
    TransportUnavailable,
)
from bot.install_paths import example_config
from bot.permissions import restrict_umask, tighten

DESCRIPTION = """\
Kennisbrug: a Matrix community bot for the professionals of the Dutch sick-leave
reintegration chain.
"""

EPILOG = """\
Secrets may come from the environment: KENNISBRUG_MATRIX_PASSWORD,
KENNISBRUG_MATRIX_ACCESS_TOKEN, KENNISBRUG_DATABASE_URL, KENNISBRUG_MATRIX_STORE_KEY.
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
    from bot.config_check import check_everything, config_notes

    problems = check_everything(args.config)
    if problems:
        print(f"{args.config}: {len(problems)} problem(s):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"{args.config}: OK")
    for note in config_notes(args.config):
        print(f"  note: {note}")
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
    except TransportUnavailable as exc:
        print(f"Kennisbrug stopped: {exc} (homeserver {config.matrix.homeserver}).", file=sys.stderr)
        return EXIT_TRANSPORT
    except TransportError as exc:
        print(f"Kennisbrug stopped: {exc}.", file=sys.stderr)
        return EXIT_TRANSPORT
    except ConfigError:
        raise  # main() lists configuration problems (a crypto store key that does not fit, too)
    except Exception as exc:
        return _stopped_unexpectedly(exc)
    return 0


EXIT_DATABASE = 7
EXIT_UNEXPECTED = 8
EXIT_TARGET_NOT_EMPTY = 9


def _stopped_unexpectedly(exc: Exception, prefix: str = "Kennisbrug stopped") -> int:
    """One line for a failure none of the handlers above names (the log has the details).

    A database that cannot be opened (a bad URL, a server that is down, a folder the bot
    may not write) is the usual one at start-up; anything else is still one line for the
    operator, with the traceback in the log at DEBUG level for whoever debugs it.
    """
    from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

    logging.getLogger("kennisbrug").debug("stopped by an exception", exc_info=exc)
    if isinstance(exc, ArgumentError):
        print(f"{prefix}: database.url is not a valid database URL ({exc}).", file=sys.stderr)
        return EXIT_DATABASE
    if isinstance(exc, SQLAlchemyError | OSError) or _from_database_driver(exc):
        detail = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        text = " ".join(str(detail).split()) or type(detail).__name__
        print(f"{prefix}: the database cannot be used: {text}.", file=sys.stderr)
        return EXIT_DATABASE
    text = " ".join(str(exc).split())
    if isinstance(exc, KennisbrugError):
        print(f"{prefix}: {text}.", file=sys.stderr)
    else:
        print(
            f"{prefix}: unexpected {type(exc).__name__}: {text} (logging.level DEBUG logs the traceback).",
            file=sys.stderr,
        )
    return EXIT_UNEXPECTED


def _from_database_driver(exc: Exception) -> bool:
    """asyncpg and aiosqlite raise their own errors before SQLAlchemy wraps them."""
    return type(exc).__module__.split(".")[0] in ("asyncpg", "sqlite3", "aiosqlite")


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
    import importlib.util

    if importlib.util.find_spec("synapse") is None:
        # An operator's install has the bot, not the homeserver the demo starts.
        print("demo: needs Synapse, a development dependency: pip install 'kennisbrug[dev]'", file=sys.stderr)
        return 2
    from bot.devtools.demo import run_demo

    configure_logging("WARNING" if not args.verbose else "INFO")
    try:
        return asyncio.run(run_demo(Path(args.data), Path(args.config), reset=args.reset))
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 0


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse names the subcommand group once more ("COMMAND") above its list, right
    under the "commands:" title: the list alone says it."""

    def _format_action(self, action: argparse.Action) -> str:
        text = super()._format_action(action)
        if isinstance(action, argparse._SubParsersAction):
            text = text.split("\n", 1)[1] if "\n" in text else text
        return text


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_HelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    run = sub.add_parser("run", help="run the bot against the homeserver named in the config")
    run.add_argument("--config", type=Path, required=True, help="path of the YAML config")
    run.set_defaults(func=cmd_run)
    demo = sub.add_parser(
        "demo",
        help="start a local homeserver (data in .demo/), the bot, and a terminal chat",
        description="Start a real local Synapse (data in .demo/), register the bot, an admin and a "
        "demo member, create the community from the config, start the bot and open a terminal "
        "chat in the welcome room. Ctrl-C stops everything; a second run reuses the data.",
    )
    demo.add_argument("--config", type=Path, default=example_config(), help="rooms and themes to create")
    demo.add_argument("--data", default=".demo", help="where the demo keeps its data (default .demo)")
    demo.add_argument("--reset", action="store_true", help="start from scratch (deletes the data folder)")
    demo.add_argument("--verbose", action="store_true", help="show the bot's log")
    demo.set_defaults(func=cmd_demo)
    check = sub.add_parser(
        "check-config", help="validate a config file; exit 0, or list every problem and exit 1"
    )
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
        help="report the running bot's health as JSON (exit 0 healthy, 1 not)",
        description="Print last successful sync age, scheduler, database and outbox backlog as JSON, "
        "read from the database the running bot writes its heartbeat to.",
    )
    health.add_argument("--config", type=Path, required=True)
    health.set_defaults(func=cmd_health)
    add_operator_commands(sub)
    add_cross_sign_command(sub)
    return parser


def _data_paths(config: Config) -> list[Path]:
    """The database file (SQLite) and the crypto store: what must be owner-only."""
    from bot.backup import BackupError, sqlite_file

    paths = [Path(config.matrix.store_path)]
    try:
        database = sqlite_file(config)
    except BackupError:  # an in-memory database has no file to protect
        database = None
    if database is not None:
        paths += [database.with_name(database.name + suffix) for suffix in ("", "-wal", "-shm")]
    return paths


def main(argv: list[str] | None = None) -> int:
    # "kennisbrug" when installed, "run_bot.py" from a checkout: the help names what was typed.
    typed = Path(sys.argv[0]).name
    args = build_parser(typed if typed in ("kennisbrug", "run_bot.py") else "kennisbrug").parse_args(argv)
    # Before anything is written: the database and crypto store are for the bot's eyes.
    restrict_umask()
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print("configuration problem(s):\n  - " + "\n  - ".join(exc.problems), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # migrate, health, backup …: one line too (run has its own, with exit codes).
        return _stopped_unexpectedly(exc, prefix=f"{args.command} failed")


# Operator commands: init, backup, restore (see bot/install_init.py and bot/backup.py).


def add_operator_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = sub.add_parser(
        "init",
        help="write a commented starter config from a few questions, then check it",
        description="Ask for the homeserver, the bot's account, the rooms (created by the bot or "
        "existing ones) and the admins; write a commented config and run check-config on it. "
        "With --non-interactive every answer comes from the flags.",
    )
    init.add_argument("--config", type=Path, default=Path("kennisbrug.yaml"), help="file to write")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.add_argument("--non-interactive", action="store_true", help="take every answer from the flags")
    init.add_argument("--homeserver", help="the homeserver's client URL")
    init.add_argument("--user-id", help="the bot's account, @name:server")
    init.add_argument("--login", choices=("password", "token"), default="password")
    init.add_argument("--secret", help="the password or token, written into the file (else: environment)")
    init.add_argument("--rooms", choices=("create", "existing"), default="create", dest="rooms_mode")
    init.add_argument(
        "--room", action="append", default=[], metavar="NAME=REF", help="existing welcome, events, questions"
    )
    init.add_argument("--theme", action="append", default=[], metavar="KEY=REF", help="existing theme room")
    init.add_argument("--admin", action="append", default=[], metavar="USER_ID", help="a community admin")
    init.add_argument("--database-url", help="default sqlite+aiosqlite:///data/kennisbrug.db")
    init.set_defaults(func=cmd_init)
    backup = sub.add_parser(
        "backup",
        help="copy the database and the crypto store into a new folder (the bot may run)",
        description="Write a consistent copy of the database (SQLite online backup, or pg_dump) and "
        "the crypto store into DIR, with manifest.json (time, schema revision, files).",
    )
    backup.add_argument("dir", type=Path, metavar="DIR")
    backup.add_argument("--config", type=Path, required=True)
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser(
        "restore",
        help="put a backup's database and crypto store back (the bot must be stopped)",
        description="Restore DIR (made by backup) to the database and crypto store the config "
        "names. Refuses while a bot runs on that database, and to overwrite data without --force.",
    )
    restore.add_argument("dir", type=Path, metavar="DIR")
    restore.add_argument("--config", type=Path, required=True)
    restore.add_argument("--force", action="store_true", help="replace an existing database and store")
    restore.set_defaults(func=cmd_restore)
    copy = sub.add_parser(
        "copy-database",
        help="copy every row into a new, empty database (SQLite to PostgreSQL, or back; the bot stopped)",
        description="Move a community to another database: the target is migrated to the newest "
        "schema and gets every row of the source (sync token, device, generated keys, jobs, outbox, "
        "every feature's tables), table by table; the rows are counted again on both sides. Refuses "
        f"while a bot runs on either database and, with exit code {EXIT_TARGET_NOT_EMPTY}, a target "
        "that holds rows. The crypto store is a folder: it stays where it is.",
    )
    copy.add_argument("--from", dest="source", required=True, metavar="URL", help="the database now in use")
    copy.add_argument("--to", dest="target", required=True, metavar="URL", help="the new, empty database")
    copy.add_argument("--config", type=Path, help="a config whose plugins' tables are copied too")
    copy.set_defaults(func=cmd_copy_database)


def cmd_init(args: argparse.Namespace) -> int:
    from bot.install_init import InitError, ask, from_flags, secret_hint, write

    try:
        if args.non_interactive:
            answers = from_flags(
                homeserver=args.homeserver,
                user_id=args.user_id,
                login=args.login,
                secret=args.secret,
                rooms_mode=args.rooms_mode,
                rooms=args.room,
                themes=args.theme,
                admins=args.admin,
                database_url=args.database_url,
            )
        else:
            answers = ask(sys.stdin, sys.stdout)
            if args.secret is not None:
                answers.secret = args.secret
        write(args.config, answers, force=args.force)
    except InitError as exc:
        print(f"kennisbrug init: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.config}")
    hint = secret_hint(answers)
    if hint:
        print(f"next: {hint}")
    return cmd_check_config(args)


def cmd_backup(args: argparse.Namespace) -> int:
    from bot.backup import BackupError, backup

    config = _load(args.config)
    try:
        manifest = asyncio.run(backup(config, args.dir))
    except BackupError as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    store_files = sum(1 for e in manifest.files.values() if e["role"] == "crypto store")
    print(
        f"backup in {args.dir}: {manifest.database} database at schema "
        f"{manifest.schema_revision or 'empty'}, {store_files} crypto store file(s)"
    )
    if config.matrix.store_key and not manifest.store_key_in_database:
        print(
            "note: the crypto store key is not in the database (matrix.store_key or "
            "KENNISBRUG_MATRIX_STORE_KEY): keep it with the backup, the store and the bot's "
            "cross-signing keys are unreadable without it"
        )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from bot.backup import BackupError, restore

    config = _load(args.config)
    try:
        manifest = asyncio.run(restore(config, args.dir, force=args.force))
    except BackupError as exc:
        print(f"restore failed: {exc}", file=sys.stderr)
        return 1
    print(
        f"restored the backup of {manifest.created_at} (schema {manifest.schema_revision or 'empty'}) "
        f"to {config.database.url.split('://', 1)[0]} and {config.matrix.store_path}"
    )
    return 0


def cmd_copy_database(args: argparse.Namespace) -> int:
    from bot.config import default_store_path
    from bot.database_copy import SourceInUse, TargetNotEmpty, copy_database
    from bot.storage.lock import AlreadyRunning

    plugins = _load(args.config).plugins if args.config is not None else ()
    configure_logging("WARNING")

    def progress(table: str, rows: int) -> None:
        print(f"  {table}: {rows} row(s)")

    print(f"copying {_scheme(args.source)} -> {_scheme(args.target)}")
    try:
        report = asyncio.run(copy_database(args.source, args.target, plugins, progress=progress))
    except (SourceInUse, AlreadyRunning) as exc:
        print(f"copy-database refused: {exc}", file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    except TargetNotEmpty as exc:
        print(f"copy-database refused: {exc}", file=sys.stderr)
        return EXIT_TARGET_NOT_EMPTY
    except KennisbrugError as exc:
        print(f"copy-database failed: {exc}", file=sys.stderr)
        return 1
    tables = sum(1 for rows in report.rows.values() if rows)
    print(
        f"copied {report.total} row(s) in {tables} of {len(report.rows)} tables, schema {report.schema}; "
        "counts verified"
    )
    if _scheme(args.source) == "sqlite":
        print(
            f"next: set database.url to the new database and matrix.store_path to the crypto store "
            f"in use (by default {default_store_path(args.source)}, next to the SQLite file); "
            "a store key given outside the database stays as it is"
        )
    return 0


def _scheme(url: str) -> str:
    """The database kind of a URL, never its password."""
    return url.split(":", 1)[0].split("+", 1)[0]
