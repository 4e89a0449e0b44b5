"""Privacy rights on a real Synapse: a member downloads their data file and has the bot
forget them; afterwards no row in the bot's database names them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from nio import MemoryDownloadResponse, RedactedEvent, RoomGetEventResponse, RoomMessageFile

from bot.clock import SystemClock
from bot.config import Config
from bot.ids import RoomId, UserId
from bot.matrix import MatrixTransport
from bot.rooms import RoomDirectory
from bot.storage import Database
from bot.storage.migrate import migrate
from bot.transport import OutgoingMessage
from tests.integration.conftest import BotRunner, Member, open_dm
from tests.privacy_scan import rows_mentioning

pytestmark = pytest.mark.integration


async def _download_json(member: Member, event: RoomMessageFile) -> dict[str, Any]:
    response = await member.client.download(mxc=event.url)
    assert isinstance(response, MemoryDownloadResponse), response
    return json.loads(response.body.decode("utf-8"))


async def test_my_data_then_forget_me(bot: BotRunner, bot_config: Config, member_factory: Any) -> None:
    bob: Member = await member_factory("bob")
    dm = await open_dm(bob, bot_config.matrix.user_id)
    assert "vanaf nu" in (await bob.ask(dm, "!taal nl")).body

    explanation = await bob.ask(dm, "!mijngegevens")
    assert "JSON-bestand" in explanation.body
    [file_event] = await bob.wait_for(lambda r, e: r == dm and isinstance(e, RoomMessageFile))
    assert file_event.body.startswith("kennisbrug-gegevens-") and file_event.body.endswith(".json")
    document = await _download_json(bob, file_event)
    assert document["member"] == bob.user_id
    assert document["data"]["core.members"]["language"] == "nl"
    assert document["data"]["core.direct_room"]["room_id"] == dm

    db = Database(bot_config.database.url)
    try:
        assert await rows_mentioning(db, bob.user_id)  # the scan sees what is there
        question = await bob.ask(dm, "!vergeet-mij")
        assert question.body.startswith("Wil je dat ik alles vergeet") and "Ja, wis alles" in question.body
        done = await bob.ask(dm, "ja")
        assert done.body.startswith("Klaar: ik heb alles gewist")
        assert bob.user_id not in done.body
        assert await rows_mentioning(db, bob.user_id) == []
    finally:
        await db.dispose()


async def test_redaction_and_forgetting_a_direct_chat(bot_config: Config, member_factory: Any) -> None:
    # The transport on its own (no bot running): what another feature will use to take
    # a forgotten member's introduction card down.
    db = Database(bot_config.database.url)
    await migrate(db)
    transport = MatrixTransport(bot_config, db, SystemClock(), RoomDirectory())
    carol: Member = await member_factory("carol")
    try:
        await transport.connect()
        room = await transport.direct_room(UserId(carol.user_id))
        card = await transport.send(
            OutgoingMessage(room_id=room, plain="Kaartje van Carol", txn_id="test.card")
        )
        await transport.redact(room, card, "vergeten")
        await transport.redact(room, card, "vergeten")  # again: already done, no error
        await carol.join(room)
        fetched = await carol.client.room_get_event(room, card)
        assert isinstance(fetched, RoomGetEventResponse) and isinstance(fetched.event, RedactedEvent)

        await transport.forget_direct_room(UserId(carol.user_id))
        assert carol.user_id not in await transport._rooms._m_direct()
        assert RoomId(room) not in transport._rooms._direct
    finally:
        await transport.stop()
        await db.dispose()
