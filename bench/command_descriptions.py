"""MSC4391 command descriptions at start-up, on a local Synapse, with the example community.

The example config has 12 community rooms (3 rooms and 9 theme rooms). The bot starts
in this process as in production, publishes a description per command a member may
run in each room, and is stopped; then it starts again with the same database. Prints
how many state events the first start sent and how long that took, that the second
start sent none (and how long its comparison took), and what the homeserver holds.

    .venv/bin/python bench/command_descriptions.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import command_schema  # noqa: E402
from bot.app import App, run  # noqa: E402
from bot.command_descriptions import PublishReport  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.devtools.synapse import LocalSynapse, SynapseOptions  # noqa: E402


async def start_and_publish(config: Any) -> tuple[PublishReport, float, dict[str, int], int]:
    """One start: the publishing report, seconds from start to published, state per room."""
    apps: list[App] = []
    ready = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(run(config, ready=ready, on_app=apps.append))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, timeout=300, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    app = apps[0]
    assert app.command_descriptions is not None  # started with the features, before ready
    report: PublishReport = await app.command_descriptions
    elapsed = time.perf_counter() - started
    held: dict[str, int] = {}
    for room_id in app.services.rooms.community_rooms():
        state = await app.transport.read_room_state(room_id, command_schema.DESCRIPTION_EVENT_TYPE)
        held[room_id] = sum(1 for e in state.events if e.content)
    commands = len(app.services.registry.commands)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return report, elapsed, held, commands


async def main(log_level: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="kennisbrug-bench-commands-"))
    synapse = LocalSynapse(SynapseOptions(data_dir=work / "synapse"))
    await synapse.start()
    try:
        password = secrets.token_urlsafe(10)
        await synapse.register_user("kennisbrug", password)
        await synapse.register_user("alice", secrets.token_urlsafe(10))
        raw = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())
        raw["matrix"].update(homeserver=synapse.base_url, user_id="@kennisbrug:localhost", password=password)
        raw["database"] = {"url": f"sqlite+aiosqlite:///{work / 'bot.db'}"}
        raw["logging"] = {"level": log_level}
        config = parse_config(raw, work / "config.yaml", env={})
        # nio warns about every alias lookup that finds no room yet (the first start creates them).
        logging.getLogger("nio").setLevel(logging.ERROR)
        rooms = len(config.rooms) + len(config.themes)

        first, first_total, held, commands = await start_and_publish(config)
        second, second_total, held_again, _ = await start_and_publish(config)

        print(f"community rooms: {rooms}; registered commands: {commands}")
        print(
            f"first start:  {first.sent} state events sent ({first.sent / max(first.rooms, 1):.1f} per room), "
            f"{first.blanked} blanked, {len(first.skipped)} rooms skipped; "
            f"publishing took {first.seconds:.2f} s ({1000 * first.seconds / max(first.sent, 1):.0f} ms per event); "
            f"start to published {first_total:.1f} s"
        )
        print(
            f"second start: {second.sent} state events sent, {second.blanked} blanked, "
            f"{second.unchanged} unchanged; comparing took {second.seconds:.2f} s "
            f"({1000 * second.seconds / max(second.rooms, 1):.0f} ms per room); start to done {second_total:.1f} s"
        )
        print(
            f"homeserver holds {sum(held.values())} descriptions after the first start, "
            f"{sum(held_again.values())} after the second"
        )
        assert second.sent == 0 and second.blanked == 0, "the second start sent state events"
        assert sum(held.values()) == first.sent == sum(held_again.values())
    finally:
        await synapse.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    asyncio.run(main(args.log_level))
