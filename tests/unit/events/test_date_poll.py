"""``!event peiling``: organisers ask the events room which dates suit; members answer
by poll or by ``!stem``; ``!event peiling sluit`` posts the result."""

from __future__ import annotations

import pytest

from bot.app import App
from bot.ids import UserId
from tests.fakes import ALICE, BOB, FakeTransport, message

pytestmark = pytest.mark.both_databases

CAROL = UserId("@carol:localhost")


async def say(app: App, text: str, *, sender: UserId = BOB, room: str = "!events") -> None:
    await app.router.dispatch(message(text, sender=sender, room=room, is_direct=room.startswith("!dm-")))


async def test_a_date_poll_from_start_to_result(app: App, transport: FakeTransport) -> None:
    await say(app, '!event peiling "Lunchlezing AI" 20-04-2027; 22-04-2027; 27-04-2027', sender=ALICE)
    room, poll, event_id = transport.polls[-1]
    assert room == "!events" and poll.max_selections == 3
    assert poll.question == "Welke datum past je voor Lunchlezing AI?"
    assert [a.text for a in poll.answers] == ["dinsdag 20 april", "donderdag 22 april", "dinsdag 27 april"]
    [fallback] = [m.plain for m in transport.sent if m.room_id == "!events" and "Lunchlezing AI" in m.plain]
    assert "1. dinsdag 20 april" in fallback and "`!stem 1 2`" in fallback
    assert "peiling sluit 1" in transport.last()

    await say(app, "!stem 1 3", sender=BOB)
    await say(app, "!vote 3", sender=CAROL)
    await say(app, "!stem 1 3", sender=CAROL)  # a change: counted once
    await say(app, "!event peiling sluit 1", sender=ALICE)
    _, ended, result, counts = transport.poll_ends[-1]
    assert ended == event_id and counts == {"1": 2, "2": 0, "3": 2}
    assert "Samen de meeste stemmen: dinsdag 20 april, dinsdag 27 april" in result
    assert "2 leden stemden" in transport.last()
    await say(app, "!event peiling sluit 1", sender=ALICE)
    assert "al gesloten" in transport.last()


async def test_date_polls_are_for_organisers_and_need_two_dates(app: App, transport: FakeTransport) -> None:
    await say(app, '!event peiling "Lunch" 20-04-2027; 22-04-2027', sender=BOB)
    assert "Alleen organisatoren" in transport.last() and not transport.polls
    await say(app, '!event peiling "Lunch" 20-04-2027', sender=ALICE)
    assert "minstens twee datums" in transport.last()
    await say(app, "!event peiling 99 20-04-2027; 22-04-2027", sender=ALICE)
    assert "geen bijeenkomst met nummer 99" in transport.last()
    await say(app, "!event peiling sluit 5", sender=ALICE)
    assert "geen datumpeiling met nummer 5" in transport.last()
