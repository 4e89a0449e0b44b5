"""The operator's commands of the command line: ``init`` (a starter config from a few
questions), ``backup``, ``restore`` and ``copy-database``; the work is in
``bot/install_init.py``, ``bot/backup.py`` and ``bot/database_copy.py``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.config import load_config
from bot.errors import KennisbrugError
from bot.exit_codes import EXIT_ALREADY_RUNNING, EXIT_TARGET_NOT_EMPTY
from bot.recovery_commands import add_restore_keys_command


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
    add_restore_keys_command(sub)
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
    from bot.cli import cmd_check_config  # bot.cli imports this module: asked at call time

    return cmd_check_config(args)


def cmd_backup(args: argparse.Namespace) -> int:
    from bot.backup import BackupError, backup

    config = load_config(args.config)
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

    config = load_config(args.config)
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

    plugins = load_config(args.config).plugins if args.config is not None else ()
    from bot.cli import configure_logging  # bot.cli imports this module: asked at call time

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
