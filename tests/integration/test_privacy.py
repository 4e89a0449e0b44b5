"""Privacy rights on a real Synapse: a member downloads their data file and has the bot
forget them; afterwards no row in the bot's database names them."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from nio import (
    MemoryDownloadResponse,
    RedactedEvent,
    RoomEncryptedFile,
    RoomGetEventResponse,
    RoomMessageFile,
    RoomMessageNotice,
)
from nio.store.models import MegolmInboundSessions

from bot.clock import SystemClock
from bot.config import Config
from bot.devtools.synapse import LocalSynapse
from bot.ids import RoomId, UserId
from bot.matrix import MatrixTransport
from bot.polls import numbered
from bot.room_directory import RoomDirectory
from bot.storage import Database
from bot.storage.migrate import migrate
from bot.transport import OutgoingMessage, Poll
from tests.integration.conftest import BotRunner, EncryptedMember, Member, barrier, open_dm
from tests.privacy_scan import files_mentioning, memory_mentioning, rows_mentioning

pytestmark = pytest.mark.integration


async def _download_json(member: Member, event: RoomMessageFile) -> dict[str, Any]:
    response = await member.client.download(mxc=event.url)
    assert isinstance(response, MemoryDownloadResponse), response
    return json.loads(response.body.decode("utf-8"))


async def test_my_data_then_forget_me(
    bot: BotRunner, bot_config: Config, synapse: LocalSynapse, tag: str
) -> None:
    # A member of this test alone: the shared accounts sit in encrypted rooms of earlier
    # tests with the bot account, and a member who shares an encrypted room with the bot
    # has their public device keys fetched again (the bot must be able to write to them).
    password = secrets.token_urlsafe(12)
    user_id = await synapse.register_user(f"vergeet{tag}", password)
    bob = Member(synapse, user_id, password)
    await bob.login()
    dm = await open_dm(bob, bot_config.matrix.user_id)
    assert "vanaf nu" in (await bob.ask(dm, "!taal nl")).body
    # A vote, tapped in a poll: part of the data file, and erased with the rest.
    assert bot.app is not None
    poll = await bot.app.services.polls.start(
        RoomId(dm),
        Poll("Koffie of thee?", numbered(["koffie", "thee"])),
        purpose="test",
        ref="1",
        language="nl",
        txn_id=f"test.poll.{tag}",
    )
    response = {
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll.event_id},
        "org.matrix.msc3381.poll.response": {"answers": ["2"]},
    }
    await bob.client.room_send(dm, "org.matrix.msc3381.poll.response", response)
    await barrier(bob, dm)

    explanation = await bob.ask(dm, "!mijngegevens")
    assert "JSON-bestand" in explanation.body
    [file_event] = await bob.wait_for(lambda r, e: r == dm and isinstance(e, RoomMessageFile))
    assert file_event.body.startswith("kennisbrug-gegevens-") and file_event.body.endswith(".json")
    document = await _download_json(bob, file_event)
    assert document["member"] == bob.user_id
    assert document["data"]["core.members"]["language"] == "nl"
    assert document["data"]["core.direct_room"]["room_id"] == dm
    [vote] = document["data"]["core.ballots"]["votes"]
    assert (vote["question"], vote["answers"]) == ("Koffie of thee?", ["thee"])

    db = Database(bot_config.database.url)
    try:
        assert await rows_mentioning(db, bob.user_id)  # the scan sees what is there
        question = await bob.ask(dm, "!vergeet-mij")
        assert question.body.startswith("Wil je dat ik alles vergeet") and "Ja, wis alles" in question.body
        done = await bob.ask(dm, "ja")
        assert done.body.startswith("Klaar: ik heb alles gewist")
        assert bob.user_id not in done.body
        assert await rows_mentioning(db, bob.user_id) == []
        assert await bot.app.services.polls.get(poll.event_id) is None  # the DM's poll went too
        assert _memory(bot, bob.user_id) == []
        assert files_mentioning(Path(bot_config.matrix.store_path), bob.user_id) == []
        # The export file the bot sent is redacted in the DM.
        fetched = await bob.client.room_get_event(dm, file_event.event_id)
        assert isinstance(fetched, RoomGetEventResponse) and isinstance(fetched.event, RedactedEvent)
    finally:
        await db.dispose()
        await bob.close()


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
        assert carol.user_id not in await transport._direct._records.m_direct()
        assert RoomId(room) not in transport._direct._records
    finally:
        await transport.stop()
        await db.dispose()


def _memory(bot: BotRunner, user_id: str) -> list[str]:
    """What the running app keeps in memory naming the member; the transport is left out
    (nio's room state lists who is in a room, the member still is in their DM)."""
    assert bot.app is not None
    services = bot.app.services
    return memory_mentioning(bot.app, user_id, skip=[bot.app.transport, services.catalogue, services.config])


def _notice(room: str, text: str) -> Any:
    return lambda r, e: r == room and isinstance(e, RoomMessageNotice) and text in e.body


async def test_an_encrypted_member_is_forgotten_with_their_room_keys_and_files(
    bot: BotRunner, bot_config: Config, encrypted_member_factory: Any
) -> None:
    bot_user = bot_config.matrix.user_id
    dave: EncryptedMember = await encrypted_member_factory("dave")
    erin: EncryptedMember = await encrypted_member_factory("erin")
    dm = await dave.open_encrypted_dm(bot_user)
    erin_dm = await erin.open_encrypted_dm(bot_user)
    await erin.send(erin_dm, "!taal nl")
    await erin.wait_for(_notice(erin_dm, "vanaf nu"), timeout=30)

    await dave.send(dm, "!mijngegevens")
    [file_event] = await dave.wait_for(lambda r, e: r == dm and isinstance(e, RoomEncryptedFile), timeout=30)
    assert file_event.body.endswith(".json")
    assert bot.app is not None
    store = bot.app.transport._client.store  # type: ignore[attr-defined]
    store_dir = Path(bot_config.matrix.store_path)
    assert files_mentioning(store_dir, dave.user_id)  # the bot keeps dave's device keys

    def inbound_sessions_from(member: EncryptedMember) -> int:
        curve = member.client.olm.account.identity_keys["curve25519"]  # type: ignore[union-attr]
        with store.database.bind_ctx(store.models):
            return MegolmInboundSessions.select().where(MegolmInboundSessions.sender_key == curve).count()

    assert inbound_sessions_from(dave) >= 1 and inbound_sessions_from(erin) >= 1

    await dave.send(dm, "!vergeet-mij")
    await dave.wait_for(_notice(dm, "Wil je dat ik alles vergeet"), timeout=30)
    await dave.send(dm, "ja")
    # The confirmation is readable: the bot fetched dave's public keys again for it.
    await dave.wait_for(_notice(dm, "ik heb alles gewist"), timeout=30)
    assert dave.undecryptable() == []

    assert inbound_sessions_from(dave) == 0  # the room keys of dave's messages are gone
    assert inbound_sessions_from(erin) >= 1
    fetched = await dave.client.room_get_event(dm, file_event.event_id)
    assert isinstance(fetched, RoomGetEventResponse) and isinstance(fetched.event, RedactedEvent)
    db = Database(bot_config.database.url)
    try:
        assert await rows_mentioning(db, dave.user_id) == []
        assert await rows_mentioning(db, erin.user_id)
    finally:
        await db.dispose()
    assert _memory(bot, dave.user_id) == []

    # Erin's encrypted chat goes on as before.
    await erin.send(erin_dm, "!privacy")
    await erin.wait_for(_notice(erin_dm, "Wat ik bewaar"), timeout=30)
    assert erin.undecryptable() == []
