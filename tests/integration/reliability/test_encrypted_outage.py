"""A new room key shared while the homeserver is away still reaches the member.

The bot must share a new Megolm key in an encrypted room now and then (after a
restart, after a week or 100 messages, when a member leaves). If the homeserver is
down at that moment, the to-device message carrying the key fails. nio nevertheless
marks the key as shared, so the message, sent once the homeserver is back, would be
encrypted with a key the member never got: an unreadable reminder is a lost one.
The adapter checks that every device got the key and otherwise shares a new one
when the send is retried.

The module has a homeserver of its own, which the test stops (SIGTERM) and starts.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from bot.config import parse_config
from bot.ids import RoomId
from bot.transport import OutgoingMessage
from tests.integration.conftest import BotRunner, EncryptedMember
from tests.integration.reliability.conftest import Homeserver, reliability_config

pytestmark = pytest.mark.integration

OUTAGE_S = 4.0


async def test_a_room_key_shared_during_an_outage_reaches_the_member(
    homeserver: Homeserver, tmp_path: Path, tag: str
) -> None:
    server = homeserver
    config = parse_config(reliability_config(server, tmp_path, tag, plugins=()), tmp_path / "bot.yaml", env={})
    runner = BotRunner(config)
    await runner.start()
    bob = EncryptedMember(server.hs, server.accounts.user_id("bob"), server.accounts.passwords["bob"], tmp_path / "bob")
    await bob.login()
    send: asyncio.Task[object] | None = None
    try:
        assert runner.app is not None
        dm = await bob.open_encrypted_dm(server.bot_user)
        await bob.ask(dm, "!help", timeout=20)  # the first key, shared while all is well

        # The key rotates (as after a week or a member leaving): the next send shares a
        # new one, and the homeserver is away just then.
        nio = runner.app.transport._client  # the rotation has no public trigger
        assert nio.olm is not None
        nio.olm.outbound_group_sessions.pop(dm, None)
        await server.faults.stop()
        send = asyncio.create_task(
            runner.app.services.transport.send(OutgoingMessage(room_id=RoomId(dm), plain="Tijdens de storing"))
        )
        await asyncio.sleep(OUTAGE_S)
        assert not send.done(), "the send cannot have succeeded with the homeserver away"
        await server.faults.start()
        await asyncio.wait_for(send, 60)

        seen = await bob.wait_for(lambda r, e: r == dm and getattr(e, "body", "") == "Tijdens de storing", 30)
        assert seen[0].decrypted
        assert bob.undecryptable() == []
    finally:
        if send is not None and not send.done():
            send.cancel()
            with contextlib.suppress(BaseException):
                await send
        await runner.stop()
        await bob.close()
