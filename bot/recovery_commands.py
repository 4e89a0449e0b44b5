"""The command line's part of the key backup: the recovery key shown at the first start,
and ``restore-keys`` (see :mod:`bot.matrix.key_backup`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.config import Config

RECOVERY_KEY_WARNING = """\
================================================================================
KEY BACKUP: the bot made a new recovery key. It is the only way to read the
encrypted direct chats again after losing the crypto store (a new server, a
broken disk). KEEP IT SAFE, away from this machine (a password manager, a safe);
anyone with it and the bot's login can read those chats. It is shown once and
was written to {path} (readable by the bot's user only).

    {key}

Restore on a new device: kennisbrug restore-keys --config ... --recovery-key-file FILE
================================================================================"""


async def announce_recovery_key(config: Config, ready: asyncio.Event) -> None:
    """Print the recovery key the first start writes, once, with a warning (never logged)."""
    path = config.matrix.recovery_key_file
    existed = path.exists()
    await ready.wait()
    if existed or not path.exists():
        return
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        print(f"the recovery key file {path} cannot be read ({exc.strerror})", file=sys.stderr)
        return
    print(RECOVERY_KEY_WARNING.format(path=path, key=key), flush=True)


def cmd_restore_keys(args: argparse.Namespace) -> int:
    """Log in as the bot and import the key backup's room keys into its crypto store."""
    from dataclasses import replace

    from bot.cli import EXIT_ALREADY_RUNNING, configure_logging
    from bot.clock import SystemClock
    from bot.config import load_config
    from bot.matrix import MatrixTransport
    from bot.matrix.key_backup import KeyBackupError, RestoreReport
    from bot.room_directory import RoomDirectory
    from bot.storage import Database
    from bot.storage.lock import AlreadyRunning, InstanceLock
    from bot.storage.migrate import migrate

    config = load_config(args.config)
    configure_logging(config.log_level)
    try:
        key = args.recovery_key_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"restore-keys: cannot read {args.recovery_key_file} ({exc})", file=sys.stderr)
        return 1
    config = replace(config, matrix=replace(config.matrix, recovery_key=key, key_backup=True))
    if not config.matrix.encryption:
        print(
            "restore-keys: matrix.encryption is off; there is no crypto store to restore into",
            file=sys.stderr,
        )
        return 1

    async def go() -> RestoreReport | None:
        db = Database(config.database.url)
        lock = InstanceLock(db)
        try:
            await lock.acquire()
            try:
                await migrate(db, config.plugins)
                return await MatrixTransport(config, db, SystemClock(), RoomDirectory()).restore_keys()
            finally:
                await lock.release()
        finally:
            await db.dispose()

    try:
        report = asyncio.run(go())
    except AlreadyRunning as exc:
        print(f"restore-keys refused: {exc}; stop the bot first", file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    except KeyBackupError as exc:
        print(f"restore-keys failed: {'; '.join(exc.problems)}", file=sys.stderr)
        return 1
    if report is None:
        print("restore-keys: nothing restored (encryption is off)", file=sys.stderr)
        return 1
    print(
        f"restored {report.imported} room key(s) from key backup version {report.version} "
        f"({report.already_known} already known, {report.unreadable} unreadable)"
    )
    return 0


def add_restore_keys_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser(
        "restore-keys",
        help="import the room keys from the homeserver's key backup (a new crypto store; the bot stopped)",
        description="Log in as the bot, download the key backup and import its room keys into the "
        "crypto store, so a bot on a new device reads the encrypted chats it had. The recovery key "
        "is the one the first start printed and wrote (matrix.recovery_key_file).",
    )
    keys.add_argument("--config", type=Path, required=True)
    keys.add_argument("--recovery-key-file", type=Path, required=True, help="a file holding the recovery key")
    keys.set_defaults(func=cmd_restore_keys)
