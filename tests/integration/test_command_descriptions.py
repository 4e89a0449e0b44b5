"""MSC4391 on a real Synapse: the bot publishes its command descriptions as room state,
a plain nio client reads them and validates them against the proposal's schema, a
structured invocation is answered, and a second start sends no state event."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from nio import RoomGetStateResponse

from bot import command_schema
from bot.command_descriptions import CommandDescriptions, PublishReport
from bot.config import Config, parse_config
from bot.devtools.synapse import LocalSynapse
from bot.ids import RoomId
from tests.integration.conftest import Accounts, BotRunner, Member, bot_config_dict

pytestmark = pytest.mark.integration

SCHEMA = json.loads(
    (Path(__file__).resolve().parent.parent / "msc4391_command_description.schema.json").read_text("utf-8")
)
EVENT_TYPE = command_schema.DESCRIPTION_EVENT_TYPE


@pytest.fixture
def bot_config(synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str) -> Config:
    """The shared test config, with the descriptions on (the default elsewhere too)."""
    raw = bot_config_dict(synapse, accounts, tmp_path, tag)
    raw["matrix"].pop("command_descriptions")
    return parse_config(raw, tmp_path / "bot.yaml", env={})


async def _published(runner: BotRunner, timeout: float = 120) -> PublishReport:
    assert runner.app is not None
    task = runner.app.command_descriptions  # started with the features, before ready
    assert task is not None, "publishing did not start"
    report: PublishReport = await asyncio.wait_for(asyncio.shield(task), timeout)
    return report


async def _descriptions(member: Member, room_id: str) -> dict[str, Any]:
    """State key → (event id, sender, content) of every description, as a client reads them."""
    resp = await member.client.room_get_state(room_id)
    assert isinstance(resp, RoomGetStateResponse), resp
    return {
        e["state_key"]: (e["event_id"], e["sender"], e["content"])
        for e in resp.events
        if e["type"] == EVENT_TYPE
    }


async def test_descriptions_published_valid_answered_and_not_repeated(
    bot: BotRunner, bot_config: Config, member_factory: Any
) -> None:
    first = await _published(bot)
    assert first.failed == [] and first.skipped == []
    assert first.rooms == 3 and first.sent > 3 * 30
    bob: Member = await member_factory("bob")
    rooms = [await bob.join(alias) for alias in (bot_config.rooms["welcome"], bot_config.rooms["questions"])]
    rooms.append(await bob.join(bot_config.themes[0].room))
    validator = jsonschema.Draft202012Validator(SCHEMA)
    own = bot_config.matrix.user_id
    assert bot.app is not None
    service = CommandDescriptions(bot.app.services)
    before: dict[str, dict[str, Any]] = {}
    for room_id in rooms:
        found = await _descriptions(bob, room_id)
        before[room_id] = found
        assert len(found) == len(await service.usable_in(RoomId(room_id)))
        for key, (_, sender, content) in found.items():
            assert sender == own
            assert not list(validator.iter_errors(content)), content
            assert key == command_schema.state_key(content["command"], own)
    assert sum(len(found) for found in before.values()) == first.sent
    welcome = rooms[0]
    names = {content["command"] for _, _, content in before[welcome].values()}
    assert {"help", "taal", "buddy zoek", "zoek"} <= names and "status" not in names

    # A client that read the description sends the command as data, mentioning the bot.
    reply = await bob.ask(
        welcome,
        f"{own} taal en",
        **{
            "m.mentions": {"user_ids": [own]},
            command_schema.INVOCATION_KEY: {"command": "taal", "arguments": {"language": "en"}},
        },
    )
    assert "from now on" in reply.body
    # Not trusted: a value outside the choices is refused like the typed one.
    refused = await bob.ask(
        welcome,
        f"{own} taal fr",
        **{
            "m.mentions": {"user_ids": [own]},
            command_schema.INVOCATION_KEY: {"command": "language", "arguments": {"language": "fr"}},
        },
    )
    assert "`fr`" in refused.body
    slashed = await bob.ask(welcome, "/taal nl")
    assert "Nederlands" in slashed.body

    # A second start with the same commands: every description keeps its event.
    await bot.stop()
    again = BotRunner(bot_config)
    await again.start()
    try:
        second = await _published(again)
        assert (second.sent, second.blanked, second.unchanged) == (0, 0, first.sent)
        for room_id in rooms:
            assert await _descriptions(bob, room_id) == before[room_id]
    finally:
        await again.stop()
