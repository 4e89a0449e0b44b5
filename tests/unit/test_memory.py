"""The bot gives freed heap back to the system: measured on this process's own RSS."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

import psutil
import pytest

from bot import memory
from bot.memory import MemoryUpkeep, release_free_memory


def _rss_mib() -> float:
    return psutil.Process().memory_info().rss / 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_release_returns_freed_heap_that_fragmentation_kept() -> None:
    # Blocks above pymalloc's limit come from glibc; keeping every 64th alive pins the
    # heap's top, so glibc itself would keep all the freed pages in between.
    blocks = [bytes(4096) + i.to_bytes(4) for i in range(40_000)]  # about 160 MiB
    kept = blocks[::64]
    del blocks
    before = _rss_mib()
    release_free_memory()
    after = _rss_mib()
    assert memory._malloc_trim() is not None
    assert before - after > 100, (before, after)
    assert len(kept) == 625


async def test_upkeep_waits_for_the_first_sync_then_releases_every_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    releases: list[float] = []
    monkeypatch.setattr(
        memory, "release_free_memory", lambda: releases.append(asyncio.get_running_loop().time())
    )
    monkeypatch.setattr(memory, "_FIRST_SYNC_POLL_S", 0.01)
    synced: list[datetime] = []
    upkeep = MemoryUpkeep(lambda: synced[0] if synced else None, interval=timedelta(seconds=0.05))
    upkeep.start()
    await asyncio.sleep(0.1)
    assert releases == []  # nothing synced yet: the start-up is still under way
    synced.append(datetime.now(UTC))
    await asyncio.sleep(0.18)
    await upkeep.stop()
    assert 3 <= len(releases) <= 5, releases
    count = len(releases)
    await asyncio.sleep(0.1)
    assert len(releases) == count  # stopped means stopped


async def test_a_failing_release_is_logged_and_the_upkeep_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    def failing() -> None:
        nonlocal calls
        calls += 1
        raise OSError("no")

    monkeypatch.setattr(memory, "release_free_memory", failing)
    upkeep = MemoryUpkeep(lambda: datetime.now(UTC), interval=timedelta(seconds=0.02))
    upkeep.start()
    await asyncio.sleep(0.1)
    await upkeep.stop()
    assert calls >= 2
    assert "could not release free memory" in caplog.text
