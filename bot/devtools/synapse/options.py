"""The harness's settings and errors, and the loopback ports it listens on."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
CONFIG_NAME = "homeserver.yaml"
LOG_CONFIG_NAME = "harness.log.config"
SYNAPSE_LOG_NAME = "homeserver.log"
STDOUT_LOG_NAME = "synapse.stdout.log"


class SynapseHarnessError(RuntimeError):
    """The harness could not start Synapse, or an admin/client call failed.

    ``status`` and ``body`` carry the HTTP status and decoded JSON (when the failure
    was an HTTP response) so tests can assert on Matrix error codes.
    """

    def __init__(self, message: str, status: int | None = None, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body or {}


@dataclass
class SynapseOptions:
    """How to run the local homeserver.

    ``port=None`` picks a free loopback port (and, on a re-used ``data_dir``, keeps
    the previous port when it is still free, so clients configured with the old base
    URL keep working across restarts). ``relaxed_rate_limits=False`` keeps Synapse's
    own ``rc_*`` defaults so the bot's rate-limit handling can be exercised for real.
    ``fast_hashing`` lowers ``bcrypt_rounds`` to 4: registration and login become
    milliseconds instead of a large fraction of a second.
    ``bytecode_cache`` lets the Synapse process cache compiled bytecode in a per-user
    cache directory even when ``PYTHONDONTWRITEBYTECODE`` is set: otherwise every
    start recompiles Synapse, which roughly doubles start-up time.
    """

    data_dir: Path
    server_name: str = "localhost"
    port: int | None = None
    relaxed_rate_limits: bool = True
    fast_hashing: bool = True
    default_room_version: str | None = None
    log_level: str = "WARNING"
    bytecode_cache: bool = True
    #: Synapse's ``database`` section; None: SQLite in ``data_dir`` (a benchmark of a
    #: large community may back it with PostgreSQL, see bench/scale.py).
    database: dict[str, Any] | None = None
    #: Folders put before the homeserver's ``PYTHONPATH``: Synapse's PostgreSQL driver
    #: (psycopg2) lives in one of its own, so the bot's environment does not import it
    #: (nio's store, peewee, loads psycopg2 whenever it can: about 10 MiB per process).
    python_path: tuple[Path, ...] = ()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    Shared machines may already run something on 8008, so never hard-code a port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    """Whether Synapse could listen on ``127.0.0.1:port`` right now.

    ``SO_REUSEADDR`` mirrors what Twisted sets on its listening sockets, so sockets
    in TIME_WAIT from a previous run of the homeserver do not count as "taken".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
        return True
