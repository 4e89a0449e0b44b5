"""Point 9: ``run_bot.py health --config PATH``.

One JSON object (last successful sync age, scheduler alive, database reachable, outbox
backlog, problems), exit 0 when healthy and 1 when not. Here: unhealthy before the bot
ever ran on the database, healthy with every field filled in once it runs. Turning
unhealthy within 2 minutes of a stall is measured in ``test_hung_homeserver.py``; the
outbox backlog growing during an outage in ``test_homeserver_outage.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.reliability.conftest import Homeserver, reliability_config
from tests.integration.reliability.faults import BotProcess

pytestmark = pytest.mark.integration

FIELDS = {"healthy", "last_sync_age_s", "scheduler_alive", "database", "outbox_backlog", "problems"}


async def test_health_reports_the_running_bot(
    shared_homeserver: Homeserver, bot_processes: Callable[..., BotProcess], tmp_path: Path, tag: str
) -> None:
    bot = bot_processes(reliability_config(shared_homeserver, tmp_path, tag))
    never = await bot.health()
    assert never.exit_code == 1, never.summary()
    assert never.report.get("healthy") is False and never.report.get("problems"), never.summary()

    started = await bot.start()
    check = await bot.wait_healthy(timeout=60)
    report = check.report
    assert FIELDS <= set(report), report
    assert check.exit_code == 0
    assert report["healthy"] is True and report["problems"] == []
    assert report["database"] is True and report["scheduler_alive"] is True
    assert isinstance(report["last_sync_age_s"], int | float) and 0 <= report["last_sync_age_s"] < 60
    assert report["outbox_backlog"] == 0
    print(
        f"\n[point 9] before the first run: exit {never.exit_code}, problems {never.report.get('problems')}; "
        f"running ({started:.1f} s to start): exit {check.exit_code}, last_sync_age_s "
        f"{report['last_sync_age_s']}, scheduler_alive {report['scheduler_alive']}, database "
        f"{report['database']}, outbox_backlog {report['outbox_backlog']}; one health run takes {check.seconds:.1f} s"
    )
