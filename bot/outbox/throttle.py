"""The rate-limit pause: a 429 is for the whole account, so it holds back every lane."""

from __future__ import annotations

import asyncio


class Throttle:
    """Until when no lane sends; measured in the loop's monotonic time."""

    def __init__(self) -> None:
        # The homeserver's rate limit counts every message of the account, whichever
        # room it goes to.
        self._until = 0.0

    def pause(self, seconds: float) -> None:
        """The homeserver asked for ``seconds`` of quiet (a later end never shortens it)."""
        until = asyncio.get_running_loop().time() + seconds
        self._until = max(self._until, until)

    async def wait_out(self, patient: bool) -> bool:
        """Wait until the account may send again; False (at once) when not ``patient``."""
        loop = asyncio.get_running_loop()
        while (remaining := self._until - loop.time()) > 0:
            if not patient:
                return False
            await asyncio.sleep(remaining)
        return True
