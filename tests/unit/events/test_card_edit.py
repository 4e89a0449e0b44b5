"""An edited card is an m.replace of the original, with a fallback for older clients."""

from __future__ import annotations

import pytest

from bot.ids import EventId, RoomId
from bot.matrix.sending import message_content
from bot.outbox import Outbox
from bot.transport import OutgoingMessage

pytestmark = pytest.mark.both_databases


def test_an_edit_replaces_the_card() -> None:
    content = message_content(
        OutgoingMessage(
            room_id=RoomId("!events"), plain="vol", html="<p>vol</p>", notice=False, replaces=EventId("$card")
        )
    )
    assert content["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$card"}
    assert content["m.new_content"]["body"] == "vol" and content["m.new_content"]["msgtype"] == "m.text"
    assert content["body"] == "* vol" and content["formatted_body"] == "* <p>vol</p>"
    assert "m.relates_to" not in content["m.new_content"]


async def test_edits_do_not_go_through_the_outbox() -> None:
    outbox = Outbox.__new__(Outbox)
    with pytest.raises(ValueError):
        await outbox.enqueue(
            OutgoingMessage(room_id=RoomId("!r"), plain="x", txn_id="t", replaces=EventId("$card"))
        )
