"""The encrypted baseline: a bare matrix-nio bot with end-to-end encryption on (its own
crypto store), answering every text with a fixed notice, as bench/echo_bot.py does.

bench/encrypted_latency.py runs it in its own process beside the bot: in an encrypted
DM it decrypts the member's command and encrypts its answer (sharing a room key first,
as any client must), so the ratio bot/echo is what the bot adds to an encrypted reply.

    echo_bot_e2e.py HOMESERVER USER PASSWORD REPLY_JSON STORE_DIR
"""

from __future__ import annotations

import asyncio
import json
import sys

from nio import AsyncClient, AsyncClientConfig, InviteMemberEvent, MatrixRoom, RoomMessageText


async def main(homeserver: str, user_id: str, password: str, reply_file: str, store: str) -> None:
    with open(reply_file, encoding="utf-8") as fh:
        reply = json.load(fh)
    config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False, pickle_key="bench-echo")
    client = AsyncClient(homeserver, user_id, store_path=store, config=config)
    await client.login(password, device_name="echo-e2e")
    await client.sync(timeout=1000, full_state=True)  # history is not answered

    async def on_text(room: MatrixRoom, event: RoomMessageText) -> None:
        if event.sender == client.user_id:
            return
        content = {**reply, "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}}}
        # Nobody verifies the echo bot's peers either: every device gets the room key.
        await client.room_send(room.room_id, "m.room.message", content, ignore_unverified_devices=True)

    async def on_invite(room: MatrixRoom, event: object) -> None:
        await client.join(room.room_id)

    client.add_event_callback(on_text, RoomMessageText)  # type: ignore[arg-type]
    client.add_event_callback(on_invite, InviteMemberEvent)  # type: ignore[arg-type]
    print("ready", flush=True)
    await client.sync_forever(timeout=30_000, since=client.next_batch, full_state=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
