"""From SQLite to PostgreSQL on a real homeserver: a bot talks in an encrypted direct chat,
is stopped, its database is copied with ``kennisbrug copy-database`` into a real
PostgreSQL server, and the bot started on PostgreSQL answers in the same chat, with the
same device, without answering the old messages again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from nio import RoomMessageNotice

from bot.config import load_config
from bot.devtools.synapse import LocalSynapse
from tests.conftest import PostgresForTests
from tests.integration.conftest import Accounts, BotRunner, EncryptedMember, answered_event, bot_config_dict
from tests.integration.test_operator import _cli, _device_id

pytestmark = [pytest.mark.integration, pytest.mark.postgresql_only]


def _answers_to(member: EncryptedMember, room: str, event_id: str) -> list[Any]:
    return [e for r, e in member.seen if r == room and answered_event(e) == event_id]


async def test_a_bot_moved_from_sqlite_to_postgresql_answers_in_the_old_encrypted_dm(
    database_kind: str,
    postgres_server: PostgresForTests,
    synapse: LocalSynapse,
    accounts: Accounts,
    tmp_path: Path,
    tag: str,
    encrypted_member_factory: Callable[..., Any],
) -> None:
    bot_user = accounts.user_id("kennisbrug")
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'kennisbrug.db'}"
    pg_url = postgres_server.server.url(await postgres_server.fresh_database(empty=True))

    def config_file(name: str, url: str) -> Path:
        raw = bot_config_dict(synapse, accounts, tmp_path, tag)
        raw["database"]["url"] = url
        # The store is a folder that stays where it is; its default follows an SQLite file.
        raw["matrix"]["store_path"] = str(tmp_path / "crypto")
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        return path

    on_sqlite = load_config(config_file("sqlite", sqlite_url), env={})
    runner = BotRunner(on_sqlite)
    await runner.start()
    alice: EncryptedMember = await encrypted_member_factory("alice")
    try:
        dm = await alice.open_encrypted_dm(bot_user)
        first = await alice.ask(dm, "!help", timeout=20)
        assert isinstance(first, RoomMessageNotice) and first.decrypted
        old_command = answered_event(first)
        assert old_command is not None
        # While the bot runs the copy refuses: it would miss what the bot writes next.
        code, out = await _cli("copy-database", "--from", sqlite_url, "--to", pg_url)
        assert code == 4 and "stop it first" in out, out
    finally:
        await runner.stop()
    device_before = await _device_id(sqlite_url)
    assert device_before

    code, out = await _cli("copy-database", "--from", sqlite_url, "--to", pg_url)
    assert code == 0, out
    assert "core_state:" in out and "core_processed_events:" in out and "counts verified" in out, out

    on_postgres = load_config(config_file("postgresql", pg_url), env={})
    again = BotRunner(on_postgres)
    await again.start()
    try:
        reply = await alice.ask(dm, "!help", timeout=30)
        assert isinstance(reply, RoomMessageNotice) and reply.decrypted, reply
        assert reply.sender == bot_user and "!help" in reply.body
        assert alice.undecryptable() == []
        # The bot handles a room's events in order: an answer to the old command, sent
        # again after the move, would have come before this one.
        assert len(_answers_to(alice, dm, old_command)) == 1
    finally:
        await again.stop()
    # The same device: its id, token and the generated store key came along.
    assert await _device_id(pg_url) == device_before
