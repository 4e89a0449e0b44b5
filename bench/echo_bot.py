"""The baseline: a bare matrix-nio bot that answers every text with a fixed notice.

Run by bench/latency.py in its own process, exactly like the real bot. An optional fifth
argument makes it answer only that text (bench/scale.py runs it beside the bot, in the
same rooms, where it must not answer the bot's own commands).
"""

from __future__ import annotations

import asyncio
import json
import sys

from nio import AsyncClient, InviteMemberEvent, MatrixRoom, RoomMessageText


async def main(homeserver: str, user_id: str, password: str, reply_file: str, trigger: str = "") -> None:
    # The reply's content (the bot's own answer to !help), so both bots send and the
    # homeserver stores and delivers the same bytes; only the code in between differs.
    with open(reply_file, encoding="utf-8") as fh:
        reply = json.load(fh)
    client = AsyncClient(homeserver, user_id)
    await client.login(password, device_name="echo")
    await client.sync(timeout=1000, full_state=True)  # history is not answered

    async def on_text(room: MatrixRoom, event: RoomMessageText) -> None:
        if event.sender == client.user_id or (trigger and event.body != trigger):
            return
        # Like the bot, answer as a reply to the command.
        content = {**reply, "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}}}
        await client.room_send(room.room_id, "m.room.message", content)

    async def on_invite(room: MatrixRoom, event: object) -> None:
        await client.join(room.room_id)

    client.add_event_callback(on_text, RoomMessageText)  # type: ignore[arg-type]
    client.add_event_callback(on_invite, InviteMemberEvent)  # type: ignore[arg-type]
    print("ready", flush=True)
    await client.sync_forever(timeout=30_000, since=client.next_batch)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
