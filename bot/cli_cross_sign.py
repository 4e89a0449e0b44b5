"""``kennisbrug cross-sign``: the one operator step cross-signing may need.

The bot cross-signs its own device at start (:mod:`bot.matrix.cross_signing_setup`).
Replacing cross-signing keys an account already has asks for the account's password;
a bot configured with only an access token logs one line naming this command, which
asks for the password once (a terminal prompt, or one line on a piped stdin) and does
the upload. The bot may keep running meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path

from bot.config import load_config
from bot.errors import InvalidCredentials, TransportError

EXIT_INVALID_CREDENTIALS = 3


def add_cross_sign_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = sub.add_parser(
        "cross-sign",
        help="upload the bot's cross-signing keys and sign its device (asks for the bot's password)",
        description="Put the bot's cross-signing keys on its account and sign the bot's device with "
        "them, so clients do not mark its messages as from an unverified device. Needed only when the "
        "bot logs that it needs the password (an access token alone cannot replace keys the account "
        "already has). Asks for the password once, unless the config or KENNISBRUG_MATRIX_PASSWORD has it.",
    )
    command.add_argument("--config", type=Path, required=True)
    command.set_defaults(func=cmd_cross_sign)


def _ask_password(user_id: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(f"password of {user_id}: ")
    return sys.stdin.readline().rstrip("\r\n")


def cmd_cross_sign(args: argparse.Namespace) -> int:
    from bot.cli import configure_logging
    from bot.matrix.cross_signing_setup import cross_sign_command

    config = load_config(args.config)
    configure_logging(config.log_level)
    password = config.matrix.password or _ask_password(config.matrix.user_id)
    if not password:
        print("cross-sign: no password given", file=sys.stderr)
        return 2
    try:
        outcome = asyncio.run(cross_sign_command(config, password))
    except InvalidCredentials as exc:
        print(f"cross-sign failed: {exc}", file=sys.stderr)
        return EXIT_INVALID_CREDENTIALS
    except TransportError as exc:
        print(f"cross-sign failed: {exc}", file=sys.stderr)
        return 1
    print(f"cross-signing of {config.matrix.user_id}: {outcome.value}")
    return 0
