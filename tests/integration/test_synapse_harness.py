"""The local Synapse harness: start, accounts, a room, and data surviving a restart."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from bot.devtools.synapse import LocalSynapse, SynapseOptions

pytestmark = pytest.mark.integration


@pytest.mark.asyncio
async def test_harness_start_register_room_and_restart(tmp_path: Path) -> None:
    hs = LocalSynapse(SynapseOptions(data_dir=tmp_path / "hs"))
    await hs.start()
    try:
        assert hs.is_running
        assert hs.base_url == f"http://127.0.0.1:{hs.port}"

        admin_id = await hs.register_user("beheerder", "admin-pw", admin=True)
        alice_id = await hs.register_user("alice", "alice-pw")
        assert admin_id == "@beheerder:localhost"
        assert alice_id == "@alice:localhost"
        # Registering an existing user is not an error (demo re-runs reuse accounts).
        assert await hs.register_user("alice", "alice-pw") == alice_id

        async with aiohttp.ClientSession(base_url=hs.base_url) as http:
            async with http.post(
                "/_matrix/client/v3/login",
                json={
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": alice_id},
                    "password": "alice-pw",
                },
            ) as resp:
                assert resp.status == 200, await resp.text()
                login = await resp.json()
            assert login["user_id"] == alice_id
            auth = {"Authorization": f"Bearer {login['access_token']}"}

            async with http.post(
                "/_matrix/client/v3/createRoom",
                json={"name": "Harness test", "preset": "private_chat"},
                headers=auth,
            ) as resp:
                assert resp.status == 200, await resp.text()
                room_id = (await resp.json())["room_id"]
            assert room_id.startswith("!")

            admin_login = await hs.login(admin_id, "admin-pw")
            async with http.get(
                f"/_synapse/admin/v2/users/{alice_id}",
                headers={"Authorization": f"Bearer {admin_login['access_token']}"},
            ) as resp:
                assert resp.status == 200, await resp.text()
                assert (await resp.json())["admin"] is False

        port = hs.port
        await hs.stop()
        assert not hs.is_running

        await hs.start()
        assert hs.port == port  # the previous port is reused while it is free

        again = await hs.login(alice_id, "alice-pw")
        assert again["user_id"] == alice_id
        async with aiohttp.ClientSession(base_url=hs.base_url) as http:
            async with http.get(
                "/_matrix/client/v3/joined_rooms",
                headers={"Authorization": f"Bearer {again['access_token']}"},
            ) as resp:
                assert resp.status == 200, await resp.text()
                assert room_id in (await resp.json())["joined_rooms"]
    finally:
        await hs.stop()
    assert not hs.is_running
