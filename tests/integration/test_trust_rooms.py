"""Which rooms the bot adopts at start-up, and whose power counts (real homeserver).

A member who creates a configured alias before the operator does must not become an
admin of the bot's community; power in one theme room is not power over the community.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nio import RoomCreateResponse, RoomPreset

from bot.config import parse_config
from bot.devtools.synapse import LocalSynapse
from bot.errors import CommunitySetupError
from bot.ids import UserId
from tests.integration.conftest import SERVER, Accounts, BotRunner, Member, bot_config_dict

pytestmark = pytest.mark.integration


async def _room_with_alias(member: Member, localpart: str, bot_level: int | None = None) -> str:
    override: dict[str, Any] | None = None
    if bot_level is not None:
        override = {"users": {f"@kennisbrug:{SERVER}": bot_level}}
    created = await member.client.room_create(
        alias=localpart, name="Welkom", preset=RoomPreset.public_chat, power_level_override=override
    )
    assert isinstance(created, RoomCreateResponse), created
    return created.room_id


async def _bot_is_in(member: Member, room_id: str) -> bool:
    joined = await member.client.joined_members(room_id)
    return f"@kennisbrug:{SERVER}" in [m.user_id for m in getattr(joined, "members", [])]


async def test_a_members_room_under_the_welcome_alias_is_refused_with_a_clear_reason(
    synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str, member_factory: Any
) -> None:
    bob = await member_factory("bob")  # an ordinary member, no admin in the config
    squatted = await _room_with_alias(bob, f"welkom-{tag}", bot_level=100)
    config = parse_config(bot_config_dict(synapse, accounts, tmp_path, tag), tmp_path / "bot.yaml", env={})
    runner = BotRunner(config)
    with pytest.raises(CommunitySetupError) as refused:
        await runner.start()
    await runner.stop()
    reason = str(refused.value)
    assert f"#welkom-{tag}:{SERVER}" in reason and "rooms.welcome" in reason
    assert "@bob:localhost" in reason and "by its id" in reason
    assert not await _bot_is_in(bob, squatted)  # joined to look, then left


async def test_an_admins_room_where_the_bot_has_power_is_adopted_and_remembered(
    synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str, member_factory: Any
) -> None:
    alice = await member_factory("alice")  # an admin in the config
    prepared = await _room_with_alias(alice, f"welkom-{tag}", bot_level=100)
    config = parse_config(bot_config_dict(synapse, accounts, tmp_path, tag), tmp_path / "bot.yaml", env={})
    runner = BotRunner(config)
    await runner.start()
    try:
        assert runner.app is not None
        assert runner.app.services.rooms.room_id("welcome") == prepared
    finally:
        await runner.stop()
    # A second start trusts what it adopted (and created) without asking again.
    again = BotRunner(config)
    await again.start()
    try:
        assert again.app is not None and again.app.services.rooms.room_id("welcome") == prepared
    finally:
        await again.stop()


async def test_an_admins_room_where_the_bot_lacks_power_is_refused(
    synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str, member_factory: Any
) -> None:
    alice = await member_factory("alice")
    await _room_with_alias(alice, f"welkom-{tag}")
    config = parse_config(bot_config_dict(synapse, accounts, tmp_path, tag), tmp_path / "bot.yaml", env={})
    runner = BotRunner(config)
    with pytest.raises(CommunitySetupError, match="power level 0"):
        await runner.start()
    await runner.stop()


async def test_a_room_configured_by_id_is_the_operators_choice(
    synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str, member_factory: Any
) -> None:
    bob = await member_factory("bob")
    chosen = await _room_with_alias(bob, f"gekozen-{tag}")
    raw = bot_config_dict(synapse, accounts, tmp_path, tag)
    raw["rooms"]["welcome"] = chosen
    runner = BotRunner(parse_config(raw, tmp_path / "bot.yaml", env={}))
    await runner.start()
    try:
        assert runner.app is not None and runner.app.services.rooms.room_id("welcome") == chosen
        # Bob created that room, so he is its admin; that is no power over the community.
        roles = runner.app.services.roles
        assert not await roles.is_moderator(UserId("@bob:localhost"))
        assert await roles.is_room_moderator(UserId("@bob:localhost"), chosen)
    finally:
        await runner.stop()
