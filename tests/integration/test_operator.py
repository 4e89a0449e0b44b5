"""An operator's install on a real homeserver: rooms made by hand without a space, and a
backup taken while the bot runs, restored elsewhere, carrying an encrypted direct chat."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from nio import RoomCreateResponse, RoomMessageNotice, RoomPreset

from bot.config import load_config, parse_config
from bot.devtools.synapse import LocalSynapse
from bot.matrix import state as matrix_state
from bot.storage import Database
from tests.integration.conftest import SERVER, Accounts, BotRunner, EncryptedMember, Member, bot_config_dict

pytestmark = pytest.mark.integration

KENNISBRUG = str(Path(sys.executable).with_name("kennisbrug"))


async def _cli(*args: str) -> tuple[int, str]:
    """The installed ``kennisbrug`` command as a separate process, as an operator runs it."""
    process = await asyncio.create_subprocess_exec(
        KENNISBRUG, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_rooms_made_by_the_admin_without_a_space_and_create_rooms_false(
    synapse: LocalSynapse, accounts: Accounts, tmp_path: Path, tag: str, member_factory: Any
) -> None:
    alice: Member = await member_factory("alice")  # a configured admin
    bot_user = accounts.user_id("kennisbrug")
    rooms: dict[str, str] = {}
    wanted = (("welcome", f"welkom-{tag}"), ("questions", f"vragen-{tag}"), ("theme", f"buikpijn-{tag}"))
    for logical, localpart in wanted:
        created = await alice.client.room_create(
            alias=localpart,
            name=localpart,
            preset=RoomPreset.public_chat,
            power_level_override={"users": {bot_user: 100}},
        )
        assert isinstance(created, RoomCreateResponse), created
        rooms[logical] = created.room_id
    raw = bot_config_dict(synapse, accounts, tmp_path, tag)
    del raw["community"]["space"]
    raw["community"]["create_rooms"] = False
    runner = BotRunner(parse_config(raw, tmp_path / "bot.yaml", env={}))
    await runner.start()
    try:
        assert runner.app is not None
        directory = runner.app.services.rooms
        assert directory.space_id is None
        assert directory.room_id("welcome") == rooms["welcome"]
        assert directory.room_id("theme:buikpijndossiers") == rooms["theme"]
        bob: Member = await member_factory("bob")
        room = await bob.join(f"#welkom-{tag}:{SERVER}")
        reply = await bob.ask(room, "!help", timeout=20)
        assert reply.sender == bot_user and "!help" in reply.body
    finally:
        await runner.stop()


async def test_backup_while_running_then_restore_answers_the_old_encrypted_dm(
    synapse: LocalSynapse,
    accounts: Accounts,
    tmp_path: Path,
    tag: str,
    encrypted_member_factory: Callable[..., Any],
) -> None:
    bot_user = accounts.user_id("kennisbrug")
    live, restored = tmp_path / "live", tmp_path / "restored"

    def config_file(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        raw = bot_config_dict(synapse, accounts, folder, tag)
        path = folder / "kennisbrug.yaml"
        path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        return path

    live_file = config_file(live)
    live_config = load_config(live_file, env={})
    runner = BotRunner(live_config)
    await runner.start()
    alice: EncryptedMember = await encrypted_member_factory("alice")
    try:
        dm = await alice.open_encrypted_dm(bot_user)
        first = await alice.ask(dm, "!help", timeout=20)
        assert isinstance(first, RoomMessageNotice) and first.decrypted
        # While the bot runs (and syncs, and writes its store), another process backs up.
        code, out = await _cli("backup", str(tmp_path / "backup"), "--config", str(live_file))
        assert code == 0, out
        assert "crypto store file(s)" in out
        # A second restore target may not be written while this bot holds its database.
        code, out = await _cli("restore", str(tmp_path / "backup"), "--config", str(live_file), "--force")
        assert code == 1 and "already running" in out, out
    finally:
        await runner.stop()
    device_before = await _device_id(live_config.database.url)
    assert device_before
    shutil.rmtree(live)  # the machine is gone

    restored_file = config_file(restored)
    code, out = await _cli("restore", str(tmp_path / "backup"), "--config", str(restored_file))
    assert code == 0, out
    restored_config = load_config(restored_file, env={})
    assert any(restored_config.matrix.store_path.glob("*.db"))
    again = BotRunner(restored_config)
    await again.start()
    try:
        reply = await alice.ask(dm, "!help", timeout=30)
        assert isinstance(reply, RoomMessageNotice) and reply.decrypted, reply
        assert reply.sender == bot_user and "!help" in reply.body
        assert alice.undecryptable() == []
    finally:
        await again.stop()
    # The same device as before the backup: its id and token came back with the database,
    # so members have no new device of the bot to trust.
    assert await _device_id(restored_config.database.url) == device_before


async def _device_id(url: str) -> str | None:
    db = Database(url)
    try:
        return (await matrix_state.load(db, matrix_state.DEVICE_ID)).get(matrix_state.DEVICE_ID)
    finally:
        await db.dispose()
