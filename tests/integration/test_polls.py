"""Polls on a real Synapse (MSC3381): the bot's poll start as clients receive it, real
poll responses sent by nio clients (the unstable shape Element sends and the stable
one), a member answering by ``!stem`` instead, a changed answer counted once, and the
end with its result; in a plain room and in an encrypted DM."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from nio import RoomSendError

from bot.config import Config
from bot.ids import RoomId
from bot.polls import StartedPoll, numbered
from bot.transport import Poll

from .conftest import BotRunner, EncryptedMember, Member, barrier

pytestmark = pytest.mark.integration

START = "org.matrix.msc3381.poll.start"
RESPONSE = "org.matrix.msc3381.poll.response"
END = "org.matrix.msc3381.poll.end"
DATES = Poll("Welke datum past je voor de lunchlezing?", numbered(["di 12 mei", "di 19 mei", "do 21 mei"]))


def _of_type(event_type: str, room_id: str) -> Callable[[str, Any], bool]:
    def match(room: str, event: Any) -> bool:
        source = getattr(event, "source", None)
        return room == room_id and isinstance(source, dict) and source.get("type") == event_type

    return match


async def _respond(
    member: Member, room_id: str, poll_id: str, answers: list[str], *, stable: bool = False
) -> str:
    """A poll response as a client sends it: Element's unstable shape, or the MSC's stable one."""
    relation = {"rel_type": "m.reference", "event_id": poll_id}
    if stable:
        event_type, content = "m.poll.response", {"m.relates_to": relation, "m.selections": answers}
    else:
        event_type, content = RESPONSE, {"m.relates_to": relation, RESPONSE: {"answers": answers}}
    extra = {"ignore_unverified_devices": True} if isinstance(member, EncryptedMember) else {}
    resp = await member.client.room_send(room_id, event_type, content, **extra)
    assert not isinstance(resp, RoomSendError), resp
    return str(resp.event_id)


async def _start(bot: BotRunner, room_id: str) -> StartedPoll:
    assert bot.app is not None
    return await bot.app.services.polls.start(
        RoomId(room_id), DATES, purpose="test.dates", ref="1", language="nl", txn_id=f"test.poll.{room_id}"
    )


async def _counts(bot: BotRunner, poll: StartedPoll) -> dict[str, int]:
    assert bot.app is not None
    return (await bot.app.services.polls.tally(poll)).counts


async def test_votes_by_poll_and_by_command_are_one_record_and_the_end_has_the_result(
    bot: BotRunner, bot_config: Config, member_factory: Any
) -> None:
    bob: Member = await member_factory("bob")
    carol: Member = await member_factory("carol")
    room = await bob.join(bot_config.rooms["welcome"])
    await carol.join(room)
    poll = await _start(bot, room)

    # What a client receives: the poll its poll view renders, and a text that stands alone.
    [start] = await bob.wait_for(_of_type(START, room))
    content = start.source["content"]
    assert start.source["event_id"] == poll.event_id
    block = content[START]
    assert block["kind"] == "org.matrix.msc3381.poll.disclosed" and block["max_selections"] == 1
    assert block["question"]["org.matrix.msc1767.text"] == DATES.question
    assert [(a["id"], a["org.matrix.msc1767.text"]) for a in block["answers"]] == [
        ("1", "di 12 mei"),
        ("2", "di 19 mei"),
        ("3", "do 21 mei"),
    ]
    fallback = content["org.matrix.msc1767.text"]
    assert fallback == content["body"]
    assert DATES.question in fallback and "2. di 19 mei" in fallback and "`!stem 2`" in fallback
    assert [a["m.id"] for a in content["m.poll"]["answers"]] == ["1", "2", "3"]

    # Bob taps 1, then changes his mind to 3 (a client following the stable MSC);
    # Carol's client shows no polls: she types her answer, then changes it by tapping.
    await _respond(bob, room, poll.event_id, ["1"])
    await _respond(bob, room, poll.event_id, ["3"], stable=True)
    await carol.send(room, "!stem 1")
    await _respond(carol, room, poll.event_id, ["3"])
    await barrier(bob, room)
    assert await _counts(bot, poll) == {"1": 0, "2": 0, "3": 2}

    assert bot.app is not None
    tally = await bot.app.services.polls.end(poll, txn_id=f"test.end.{poll.event_id}")
    assert tally.voters == 2
    [end] = await bob.wait_for(_of_type(END, room))
    assert end.source["content"]["m.relates_to"] == {"rel_type": "m.reference", "event_id": poll.event_id}
    result = end.source["content"]["org.matrix.msc1767.text"]
    assert "3. do 21 mei: 2 stemmen" in result and "1. di 12 mei: 0 stemmen" in result

    # After the end nothing changes the result; a typed vote is told so.
    await _respond(bob, room, poll.event_id, ["2"])
    refused = await carol.ask(room, "!stem 2")
    assert "gesloten" in refused.body
    assert await _counts(bot, poll) == {"1": 0, "2": 0, "3": 2}


async def test_an_encrypted_poll_response_counts(
    bot: BotRunner, encrypted_member_factory: Callable[..., Any], bot_config: Config
) -> None:
    erin: EncryptedMember = await encrypted_member_factory("erin")
    dm = await erin.open_encrypted_dm(bot_config.matrix.user_id)
    await barrier(erin, dm)  # the bot's session is shared with Erin's device
    poll = await _start(bot, dm)
    [start] = await erin.wait_for(_of_type(START, dm), timeout=30)
    assert start.source["content"][START]["answers"][1]["org.matrix.msc1767.text"] == "di 19 mei"

    await _respond(erin, dm, poll.event_id, ["2"])
    await barrier(erin, dm)
    assert await _counts(bot, poll) == {"1": 0, "2": 1, "3": 0}
    # Typed in the encrypted DM it is the same record: it replaces the tapped answer.
    await erin.send(dm, "!stem 1")
    await barrier(erin, dm)
    assert await _counts(bot, poll) == {"1": 1, "2": 0, "3": 0}
