"""Per-key locks: one task per key at a time, and nothing kept once nobody uses a key."""

from __future__ import annotations

import asyncio

from bot.locks import KeyedLocks


async def test_one_task_per_key_and_other_keys_run_beside_it() -> None:
    locks: KeyedLocks[str] = KeyedLocks()
    order: list[str] = []
    release = asyncio.Event()

    async def hold(key: str, name: str) -> None:
        async with locks.hold(key):
            order.append(f"{name} in")
            if name == "first":
                await release.wait()
            order.append(f"{name} out")

    first = asyncio.create_task(hold("room", "first"))
    await asyncio.sleep(0)
    second = asyncio.create_task(hold("room", "second"))
    other = asyncio.create_task(hold("other", "other"))
    await other
    assert order == ["first in", "other in", "other out"]
    assert len(locks) == 1  # "room": held and waited for
    release.set()
    await asyncio.gather(first, second)
    assert order[3:] == ["first out", "second in", "second out"]
    assert len(locks) == 0


async def test_a_failing_holder_releases_and_forgets_the_key() -> None:
    locks: KeyedLocks[int] = KeyedLocks()
    try:
        async with locks.hold(7):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert len(locks) == 0
    async with locks.hold(7):
        assert len(locks) == 1
