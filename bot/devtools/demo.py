"""``run_bot.py demo``: a real local homeserver, the bot, and a terminal chat.

Everything lives under the data folder (``.demo/`` by default): the homeserver's
database and config, the demo accounts' passwords, the bot's config and database.
A second run reuses all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

from bot.config import Config, load_config
from bot.devtools.synapse import LocalSynapse, SynapseOptions

log = logging.getLogger(__name__)

BOT_LOCALPART = "kennisbrug"
ADMIN_LOCALPART = "beheerder"
MEMBER_LOCALPART = "demo"


def _credentials(data_dir: Path) -> dict[str, str]:
    path = data_dir / "credentials.json"
    if path.exists():
        loaded: dict[str, str] = json.loads(path.read_text())
        return loaded
    creds = {name: secrets.token_urlsafe(12) for name in (BOT_LOCALPART, ADMIN_LOCALPART, MEMBER_LOCALPART)}
    path.write_text(json.dumps(creds, indent=2))
    path.chmod(0o600)
    return creds


DEMO_WEB = "127.0.0.1:8087"


def write_demo_config(
    template: Path, target: Path, synapse: LocalSynapse, creds: dict[str, str], data_dir: Path
) -> Path:
    """The example config with this homeserver, these accounts and a database in the data folder."""
    raw: dict[str, Any] = yaml.safe_load(template.read_text(encoding="utf-8"))
    server = synapse.server_name
    raw["matrix"].update(
        homeserver=synapse.base_url, user_id=f"@{BOT_LOCALPART}:{server}", password=creds[BOT_LOCALPART]
    )
    raw.setdefault("database", {})["url"] = f"sqlite+aiosqlite:///{(data_dir / 'kennisbrug.db').resolve()}"
    community = raw.setdefault("community", {})
    community["admins"] = [f"@{ADMIN_LOCALPART}:{server}"]
    community["allowed_homeservers"] = [server]
    community["create_rooms"] = True
    raw.setdefault("logging", {})["level"] = "INFO"
    # The organisers' web page on loopback (the admin gets a link with !beheer).
    raw.setdefault("web", {"listen": DEMO_WEB})
    target.write_text(
        "# Written by `run_bot.py demo` from "
        + str(template)
        + "; changes are overwritten.\n"
        + yaml.safe_dump(raw, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    return target


def _log_to_file(path: Path) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def community_rooms(config: Config) -> list[str]:
    """The rooms the chat lists first: welcome, events, questions, the rest, the themes."""
    first = [config.rooms[name] for name in ("welcome", "events", "questions") if name in config.rooms]
    rest = [alias for alias in config.rooms.values() if alias not in first]
    themes = [theme.room for theme in config.themes if theme.room not in first + rest]
    return first + rest + themes


async def run_demo(data_dir: Path, template: Path, *, reset: bool = False, out: Any = None) -> int:
    from bot.app import run
    from bot.devtools.chat import ChatSetup, run_chat

    out = out or sys.stdout
    # A closed terminal (SIGHUP) or a kill (SIGTERM) ends the demo like Ctrl-C does:
    # through the clean-up below, so the homeserver is stopped and not left running.
    main_task = asyncio.current_task()
    if main_task is not None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGHUP, signal.SIGTERM):
            loop.add_signal_handler(signum, main_task.cancel)
    if reset and data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    _log_to_file(data_dir / "bot.log")
    creds = _credentials(data_dir)

    print("Kennisbrug demo: starting a local homeserver …", file=out, flush=True)
    synapse = LocalSynapse(SynapseOptions(data_dir=data_dir / "synapse"))
    await synapse.start()
    bot_task: asyncio.Task[None] | None = None
    chat_task: asyncio.Task[None] | None = None
    try:
        for localpart in (BOT_LOCALPART, ADMIN_LOCALPART, MEMBER_LOCALPART):
            await synapse.register_user(localpart, creds[localpart], admin=localpart == ADMIN_LOCALPART)
        config_path = write_demo_config(template, data_dir / "config.yaml", synapse, creds, data_dir)
        config = load_config(config_path)
        print("… starting the bot and creating the community rooms …", file=out, flush=True)
        ready = asyncio.Event()
        bot_task = asyncio.create_task(run(config, ready=ready), name="kennisbrug")
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({bot_task, waiter}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
        if bot_task.done():
            bot_task.result()  # raises what stopped the bot
        if not ready.is_set():
            print(f"The bot did not start within 2 minutes; see {data_dir / 'bot.log'}", file=out)
            return 1
        waiter.cancel()
        server = synapse.server_name
        welcome = config.rooms["welcome"]
        banner = [
            "Kennisbrug is running.",
            f"  Homeserver:    {synapse.base_url}  (server name {server})",
            f"  Demo member:   @{MEMBER_LOCALPART}:{server}  password {creds[MEMBER_LOCALPART]}",
            f"  Admin:         @{ADMIN_LOCALPART}:{server}  password {creds[ADMIN_LOCALPART]}",
            f"  Bot:           @{BOT_LOCALPART}:{server}",
            f"  Welcome room:  {welcome}",
            f"  Bot log:       {data_dir / 'bot.log'}",
            f"  Files:         {data_dir / 'downloads'}",
            f"  Web page:      http://{DEMO_WEB}  (the admin types !beheer for a login link)",
            "Any Matrix client (Element) can log in with these accounts on the homeserver URL.",
            f"You are chatting as the demo member in {welcome}. Type !help, or /help for the chat's"
            " own commands; /quit or Ctrl-C stops.",
        ]
        print("\n" + "\n".join(banner) + "\n", file=out, flush=True)
        member_store = data_dir / "member-store"
        shutil.rmtree(member_store, ignore_errors=True)  # the chat logs in as a new device
        setup = ChatSetup(
            homeserver=synapse.base_url,
            user_id=f"@{MEMBER_LOCALPART}:{server}",
            password=creds[MEMBER_LOCALPART],
            bot_user_id=f"@{BOT_LOCALPART}:{server}",
            rooms=community_rooms(config),
            downloads=data_dir / "downloads",
            store_dir=member_store,
            language=config.community.language,
            intro=banner,
        )
        chat_task = asyncio.create_task(run_chat(setup, out))
        await asyncio.wait({bot_task, chat_task}, return_when=asyncio.FIRST_COMPLETED)
        if chat_task.done():
            chat_task.result()  # raises what stopped the chat
        else:  # the bot stopped first
            chat_task.cancel()
            await asyncio.gather(chat_task, return_exceptions=True)
            bot_task.result()
        return 0
    finally:
        if chat_task is not None and not chat_task.done():
            chat_task.cancel()  # the screen gives the terminal back before the last words
            await asyncio.gather(chat_task, return_exceptions=True)
        if bot_task is not None and not bot_task.done():
            bot_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await bot_task
        await synapse.stop()
        print("Kennisbrug demo stopped.", file=out, flush=True)
