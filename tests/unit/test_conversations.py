"""DM conversations: answers by number or label, back, skip, stop, and restarts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, build_app
from bot.clock import FakeClock
from bot.context import Context
from bot.conversations import Choice, Question, yes_no_choices
from tests.fakes import BOB, FakeTransport, make_config, message

pytestmark = pytest.mark.both_databases

DM = "!dm-bob"


class LanguageFlow:
    """A small flow built from existing catalogue keys, so the test needs no texts of its own."""

    name = "test.flow"

    def __init__(self) -> None:
        self.finished: list[tuple[dict[str, Any], bool]] = []

    def questions(self, answers: dict[str, Any]) -> Sequence[Question]:
        return [
            Question(
                "language",
                "core.help.taal.summary",
                choices=(
                    Choice("nl", label_key="core.language.name_nl"),
                    Choice("en", label_key="core.language.name_en", aliases=("english",)),
                ),
            ),
            Question("note", "core.help.help.summary", optional=True, max_length=20),
            Question(
                "days",
                "core.help.status.summary",
                choices=(
                    Choice("ma", label="maandag"),
                    Choice("di", label="dinsdag"),
                    Choice("wo", label="woensdag"),
                ),
                multiple=True,
            ),
        ]

    async def finish(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        self.finished.append((answers, completed))


async def _start(app: App, flow: LanguageFlow) -> None:
    app.services.conversations.register(flow)
    ctx = Context(app.services, message("!x", room=DM, is_direct=True), "nl")
    await app.services.conversations.start(ctx, flow.name, ctx.room_id)


async def _say(app: App, text: str) -> None:
    await app.router.dispatch(message(text, room=DM, is_direct=True))


async def test_full_conversation(app: App, transport: FakeTransport) -> None:
    flow = LanguageFlow()
    await _start(app, flow)
    assert "Vraag 1 van 3" in transport.last() and "1. Nederlands" in transport.last()
    await _say(app, "english")
    assert "Vraag 2 van 3" in transport.last()
    await _say(app, "overslaan")
    await _say(app, "1, 3")
    assert flow.finished == [({"language": "en", "days": ["ma", "wo"]}, True)]
    assert await app.services.conversations.active(BOB) is None


async def test_invalid_answer_asks_again(app: App, transport: FakeTransport) -> None:
    flow = LanguageFlow()
    await _start(app, flow)
    await _say(app, "7")
    assert "nummer van 1 tot en met 2" in transport.sent[-2].plain
    assert "Vraag 1 van 3" in transport.last()
    await _say(app, "1")
    await _say(app, "x" * 30)
    assert "hoogstens 20" in transport.sent[-2].plain
    # Counted as sent: the member counted the closing space too.
    await _say(app, "x" * 29 + " ")
    assert "Dat is 30 tekens" in transport.sent[-2].plain


async def test_a_misspelt_answer_gets_a_did_you_mean(app: App, transport: FakeTransport) -> None:
    flow = LanguageFlow()
    await _start(app, flow)
    await _say(app, "nederlandss")
    assert "Bedoelde je **Nederlands**?" in transport.sent[-2].plain
    await _say(app, "1")
    await _say(app, "overslaan")
    # In a list too: the slip is named, the question asked again.
    await _say(app, "maandag, woensdg")
    assert "`woensdg` staat er niet tussen. Bedoelde je **woensdag**?" in transport.sent[-2].plain
    # Nothing close: no guess.
    await _say(app, "zaterdag")
    assert "Bedoelde je" not in transport.sent[-2].plain and "staat er niet tussen" in transport.sent[-2].plain


async def test_back_and_stop(app: App, transport: FakeTransport) -> None:
    flow = LanguageFlow()
    await _start(app, flow)
    await _say(app, "nl")
    await _say(app, "terug")
    assert "Vraag 1 van 3" in transport.last()
    await _say(app, "en")
    await _say(app, "kort")
    await _say(app, "stop")
    assert flow.finished == [({"language": "en", "note": "kort"}, False)]


async def test_required_question_cannot_be_skipped(app: App, transport: FakeTransport) -> None:
    await _start(app, LanguageFlow())
    await _say(app, "skip")
    assert "niet overslaan" in transport.sent[-2].plain


async def test_conversation_survives_restart(tmp_path: Path, clock: FakeClock) -> None:
    config = make_config(tmp_path)
    first = await build_app(config, clock=clock, transport_factory=FakeTransport)
    await _start(first, LanguageFlow())
    await _say(first, "2")
    await first.stop()

    second = await build_app(config, clock=clock, transport_factory=FakeTransport)
    flow = LanguageFlow()
    second.services.conversations.register(flow)
    await _say(second, "het werkt")
    await _say(second, "di")
    assert flow.finished == [({"language": "en", "note": "het werkt", "days": ["di"]}, True)]
    await second.stop()


async def test_a_replayed_answer_is_taken_once(app: App, transport: FakeTransport) -> None:
    # After a crash the homeserver delivers the same event again: the answer must not
    # be taken twice (it would answer the next question too).
    flow = LanguageFlow()
    await _start(app, flow)
    answer = message("en", room=DM, is_direct=True)
    await app.router.dispatch(answer)
    await app.router.dispatch(answer)
    assert "Vraag 2 van 3" in transport.last()
    state = await app.services.conversations.active(BOB)
    assert state is not None and state.step == 1 and state.answers == {"language": "en"}


class YesNoFlow:
    """One yes/no question, built with the shared yes/no words."""

    name = "test.yes_no"

    def __init__(self, app: App) -> None:
        self.choices = yes_no_choices(
            app.services.catalogue, "introductions.answer.yes", "introductions.answer.no"
        )
        self.finished: list[tuple[dict[str, Any], bool]] = []

    def questions(self, answers: dict[str, Any]) -> Sequence[Question]:
        return [Question("listed", "introductions.ask.listed", choices=self.choices)]

    async def finish(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        self.finished.append((answers, completed))


async def _start_yes_no(app: App, answers: dict[str, Any] | None = None) -> YesNoFlow:
    flow = YesNoFlow(app)
    app.services.conversations.register(flow)
    ctx = Context(app.services, message("!x", room=DM, is_direct=True), "nl")
    await app.services.conversations.start(ctx, flow.name, ctx.room_id, answers)
    return flow


async def test_ok_keeps_a_current_answer(app: App, transport: FakeTransport) -> None:
    flow = await _start_yes_no(app, {"listed": "no"})
    assert "Nu: **Nee**" in transport.last()
    await _say(app, "ok")
    assert flow.finished == [({"listed": "no"}, True)]


async def test_ok_without_a_current_answer_is_yes(app: App, transport: FakeTransport) -> None:
    flow = await _start_yes_no(app)
    # A single question: no "Vraag 1 van 1" above it.
    assert "Vraag" not in transport.last()
    await _say(app, "Oké.")
    assert flow.finished == [({"listed": "yes"}, True)]


async def test_words_of_either_language_count(app: App, transport: FakeTransport) -> None:
    flow = await _start_yes_no(app)
    await _say(app, "nope")
    await _start_yes_no_again(app)
    await _say(app, "cancel")
    assert flow.finished == [({"listed": "no"}, True), ({}, False)]


async def _start_yes_no_again(app: App) -> None:
    ctx = Context(app.services, message("!x", room=DM, is_direct=True), "nl")
    await app.services.conversations.start(ctx, YesNoFlow.name, ctx.room_id)


async def test_the_hints_reach_the_member_as_code(app: App, transport: FakeTransport) -> None:
    await _start(app, LanguageFlow())
    await _say(app, "1")
    html = transport.sent[-1].html or ""
    assert "<code>overslaan</code> om over te slaan" in html
    assert "<code>terug</code> voor de vorige vraag" in html
    assert "`" not in html


class GrowingFlow:
    """A consent outside the count, then questions of which one follows from an answer."""

    name = "test.growing"
    approximate_total = False

    def questions(self, answers: dict[str, Any]) -> Sequence[Question]:
        yes_no = (Choice("ja", label="ja"), Choice("nee", label="nee"))
        asked = [
            Question("consent", "core.help.help.summary", choices=yes_no, counted=False),
            Question("a", "core.help.taal.summary", choices=yes_no),
            Question("b", "core.help.status.summary", optional=True),
        ]
        if answers.get("a") == "ja":
            asked.append(Question("c", "core.help.instellingen.summary", optional=True))
        return asked

    async def finish(self, ctx: Context, answers: dict[str, Any], completed: bool) -> None:
        return None


async def test_the_counter_counts_real_questions_only(app: App, transport: FakeTransport) -> None:
    flow = GrowingFlow()
    app.services.conversations.register(flow)
    ctx = Context(app.services, message("!x", room=DM, is_direct=True), "nl")
    await app.services.conversations.start(ctx, flow.name, ctx.room_id)
    assert "Vraag" not in transport.last()  # the consent has no counter
    await _say(app, "ja")
    assert "Vraag 1 van 2" in transport.last()


async def test_a_length_that_follows_answers_counts_down_about(app: App, transport: FakeTransport) -> None:
    flow = GrowingFlow()
    flow.approximate_total = True
    app.services.conversations.register(flow)
    ctx = Context(app.services, message("!x", room=DM, is_direct=True), "nl")
    await app.services.conversations.start(ctx, flow.name, ctx.room_id)
    await _say(app, "ja")
    assert "Nog ongeveer 2 vragen" in transport.last() and "van" not in transport.last().split("\n")[0]
    await _say(app, "ja")  # one more question follows from this answer
    assert "Nog ongeveer 2 vragen" in transport.last()
    await _say(app, "overslaan")
    assert "Nog één vraag" in transport.last()
