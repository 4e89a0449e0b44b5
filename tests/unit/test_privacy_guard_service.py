"""The privacy guard as a core service: its refusals, and its time on long texts (the
screening must not grow quadratically, and a command's check leaves the loop free)."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from bot.app import load_catalogue
from bot.errors import ConversationError, UserError
from bot.i18n import Catalogue, Localised
from bot.privacy_guard import PrivacyGuard, screen
from bot.replies import error_reply
from tests.fakes import make_config


@pytest.fixture
def catalogue(tmp_path: Path) -> Catalogue:
    return load_catalogue(make_config(tmp_path))


def best_time(text: str, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        screen(text)
        best = min(best, time.perf_counter() - start)
    return best


async def test_check_refuses_with_the_masked_findings_in_the_members_language(catalogue: Catalogue) -> None:
    guard = PrivacyGuard(catalogue)
    await guard.check("Een gewone vraag over een FML.", None, "")  # clean and empty texts pass
    with pytest.raises(UserError) as refused:
        await guard.check("Geen nummer hier.", "Bel 06-12345678 of mail a.b@example.nl")
    error = refused.value
    assert not isinstance(error, ConversationError) and error.key == "core.guard.found"
    assert isinstance(error.params["found"], Localised)
    dutch = error_reply(catalogue, "nl", error).plain
    english = error_reply(catalogue, "en", error).plain
    assert "een telefoonnummer 06••••••78" in dutch and "een e-mailadres a•••@•••.nl" in dutch
    assert "a phone number 06••••••78" in english and "12345678" not in english + dutch


def test_check_answer_raises_a_conversation_error_so_the_question_is_asked_again(catalogue: Catalogue) -> None:
    guard = PrivacyGuard(catalogue)
    guard.check_answer("Een medewerker van begin vijftig.")
    with pytest.raises(ConversationError) as refused:
        guard.check_answer("BSN 111222333", key="casus.guard.found")
    assert refused.value.key == "casus.guard.found"
    assert "een BSN-achtig nummer 11•••••33" in error_reply(catalogue, "nl", refused.value).plain


@pytest.mark.parametrize("unit", ["1", "a", "A1", "ab.", "0-", "Meneer van ", "111222333 ", "12 mei 1970 "])
def test_screening_grows_linearly_on_adversarial_text(unit: str) -> None:
    """Five times the text may take about five times as long, not twenty-five (the old
    patterns took 0.5-0.8 s on 20 kB of these); the bound leaves room for a busy machine."""
    short = best_time(unit * (4_000 // len(unit)))
    long = best_time(unit * (20_000 // len(unit)))
    assert long < max(12 * short, 0.05), (short, long)


async def test_a_long_check_leaves_the_event_loop_free(catalogue: Catalogue) -> None:
    """20 kB written as phone numbers keeps the phone matcher busy for a while; the
    loop's other tasks run in the meantime."""
    guard = PrivacyGuard(catalogue)
    text = "06 " * 7_000
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    started = time.perf_counter()
    task = asyncio.create_task(ticker())
    await guard.check(text)
    elapsed = time.perf_counter() - started
    task.cancel()
    # Blocking, the ticker would not tick at all while the check runs.
    assert ticks >= min(5, int(elapsed / 0.005) // 4), (ticks, elapsed)


def test_the_linear_email_search_finds_what_the_plain_pattern_finds() -> None:
    """Addresses written together ("a@b.nlc@d.nl") included: the look-behind that keeps
    the search linear must not lose the second one."""
    from bot.privacy_guard import _EMAIL, _emails

    rng = random.Random(17)
    pieces = ["a", "B", "1", ".", "-", "_", "%", "+", "@", " ", "nl", "x.y@z.com", "@b.nl", ",", "é"]
    for _ in range(3_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 40)))
        assert [m.span() for m in _emails(text)] == [m.span() for m in _EMAIL.finditer(text)], text
