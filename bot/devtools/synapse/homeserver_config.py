"""``homeserver.yaml``: generated once by Synapse itself, then patched on every start.

Patching on every start means that changing :class:`SynapseOptions` (rate limits, log
level, room version, database) between runs on the same directory takes effect, while
users, rooms and the signing key are kept.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from bot.devtools.synapse.options import (
    CONFIG_NAME,
    LOG_CONFIG_NAME,
    LOOPBACK,
    SYNAPSE_LOG_NAME,
    SynapseHarnessError,
    SynapseOptions,
    free_port,
    port_is_free,
)

logger = logging.getLogger(__name__)

#: Generous limits used when ``relaxed_rate_limits`` is on: high enough that no test
#: or benchmark is ever throttled, yet still finite so the limiter code paths run.
_RELAXED = {"per_second": 1000, "burst_count": 1000}

#: Every ``rc_*`` limiter read by ``synapse/config/ratelimiting.py`` in Synapse 1.163
#: (dotted names are nested mappings). ``rc_federation`` is left out on purpose: it
#: has a different schema and federation is disabled anyway.
_RATE_LIMIT_KEYS: tuple[str, ...] = (
    "rc_message",
    "rc_registration",
    "rc_registration_token_validity",
    "rc_login.address",
    "rc_login.account",
    "rc_login.failed_attempts",
    "rc_admin_redaction",
    "rc_joins.local",
    "rc_joins.remote",
    "rc_joins_per_room",
    "rc_key_requests",
    "rc_3pid_validation",
    "rc_invites.per_room",
    "rc_invites.per_user",
    "rc_invites.per_issuer",
    "rc_third_party_invite",
    "rc_media_create",
    "rc_presence.per_user",
    "rc_delayed_event_mgmt",
    "rc_room_creation",
    "rc_reports",
    "rc_user_directory",
    "rc_profile",
)


class HomeserverConfig:
    """The configuration files of one data directory."""

    def __init__(self, data_dir: Path, options: SynapseOptions) -> None:
        self.options = options
        self._data_dir = data_dir
        self._shared_secret: str | None = None

    @property
    def path(self) -> Path:
        return self._data_dir / CONFIG_NAME

    @property
    def log_path(self) -> Path:
        return self._data_dir / SYNAPSE_LOG_NAME

    async def generate(self, limit: float, env: dict[str, str]) -> None:
        """Let Synapse write its own config, signing key and secrets (first run only)."""
        cmd = [
            sys.executable,
            "-m",
            "synapse.app.homeserver",
            "--server-name",
            self.options.server_name,
            "--config-path",
            str(self.path),
            "--generate-config",
            "--report-stats=no",
        ]
        logger.debug("generating Synapse config in %s", self._data_dir)
        try:
            result = await asyncio.to_thread(
                subprocess.run,
                cmd,
                cwd=self._data_dir,
                stdin=subprocess.DEVNULL,
                env=env,
                capture_output=True,
                text=True,
                timeout=limit,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise SynapseHarnessError(f"synapse --generate-config took longer than {limit:.0f}s") from exc
        if result.returncode != 0 or not self.path.exists():
            # Remove a half-written config so the next attempt regenerates it.
            self.path.unlink(missing_ok=True)
            raise SynapseHarnessError(
                f"synapse --generate-config failed (exit {result.returncode}):\n"
                f"{result.stdout[-2000:]}{result.stderr[-4000:]}"
            )

    def patch(self, fresh: bool) -> int:
        """Apply the harness settings to ``homeserver.yaml`` (idempotent, every start);
        returns the port chosen."""
        opts = self.options
        config: dict[str, Any] = yaml.safe_load(self.path.read_text("utf-8")) or {}

        if config.get("server_name", opts.server_name) != opts.server_name:
            raise SynapseHarnessError(
                f"{self.path} belongs to server {config['server_name']!r}, "
                f"not {opts.server_name!r}; use another data_dir"
            )

        port = self._choose_port(config)

        config["listeners"] = [
            {
                "port": port,
                "bind_addresses": [LOOPBACK],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ]
        config["public_baseurl"] = f"http://{LOOPBACK}:{port}/"
        if fresh or not config.get("registration_shared_secret"):
            config["registration_shared_secret"] = secrets.token_urlsafe(32)
        config["enable_registration"] = False
        config["trusted_key_servers"] = []
        config["suppress_key_server_warning"] = True
        config["federation_domain_whitelist"] = []
        config["presence"] = {"enabled": False}
        config["report_stats"] = False
        config["url_preview_enabled"] = False
        config["max_upload_size"] = "10M"
        config["media_store_path"] = str(self._data_dir / "media_store")
        config["database"] = opts.database or {
            "name": "sqlite3",
            "args": {"database": str(self._data_dir / "homeserver.db")},
        }
        config["pid_file"] = str(self._data_dir / "homeserver.pid")
        config["signing_key_path"] = str(self._data_dir / f"{opts.server_name}.signing.key")

        if opts.fast_hashing:
            config["bcrypt_rounds"] = 4
        else:
            config.pop("bcrypt_rounds", None)

        if opts.default_room_version is not None:
            config["default_room_version"] = opts.default_room_version
        else:
            config.pop("default_room_version", None)

        # Drop every rate-limit override first so that switching a directory from
        # relaxed to default limits really restores Synapse's defaults.
        for key in [k for k in config if k.startswith("rc_")]:
            del config[key]
        if opts.relaxed_rate_limits:
            for dotted in _RATE_LIMIT_KEYS:
                node = config
                *parents, leaf = dotted.split(".")
                for part in parents:
                    node = node.setdefault(part, {})
                node[leaf] = dict(_RELAXED)

        log_config_path = self._data_dir / LOG_CONFIG_NAME
        log_config_path.write_text(self._log_config(), encoding="utf-8")
        config["log_config"] = str(log_config_path)

        header = "# Managed by bot.devtools.synapse: rewritten on every start.\n"
        self.path.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self._shared_secret = str(config["registration_shared_secret"])
        return port

    def _choose_port(self, config: dict[str, Any]) -> int:
        """Explicit option > previous port of this data_dir if still free > a new free port."""
        if self.options.port is not None:
            return self.options.port
        previous: int | None = None
        for listener in config.get("listeners") or []:
            if isinstance(listener, dict) and isinstance(listener.get("port"), int):
                previous = listener["port"]
                break
        # 8008 is only Synapse's generated default, never a port we chose: skip it.
        if previous is not None and previous != 8008 and port_is_free(previous):
            return previous
        if previous is not None and previous != 8008:
            logger.info("previous Synapse port %s is taken; picking another", previous)
        return free_port()

    def _log_config(self) -> str:
        """A logging config that writes only to ``homeserver.log``, never to the console."""
        level = self.options.log_level.upper()
        if level not in logging.getLevelNamesMapping():
            raise SynapseHarnessError(f"unknown log level {self.options.log_level!r}")
        # synapse.storage.SQL at DEBUG would log access tokens: never below INFO.
        sql_level = level if logging.getLevelName(level) >= logging.INFO else "INFO"
        log_config = {
            "version": 1,
            "formatters": {
                "precise": {
                    "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s"
                    " - %(request)s - %(message)s"
                }
            },
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "precise",
                    "filename": str(self.log_path),
                    "encoding": "utf8",
                }
            },
            "loggers": {"synapse.storage.SQL": {"level": sql_level}},
            "root": {"level": level, "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
        return yaml.safe_dump(log_config, sort_keys=False)

    def registration_secret(self) -> str:
        if self._shared_secret is None:
            config = yaml.safe_load(self.path.read_text("utf-8")) or {}
            self._shared_secret = str(config["registration_shared_secret"])
        return self._shared_secret
