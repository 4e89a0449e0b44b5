"""Fair rotation of who is invited to answer a question."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from commands.questions.rotation import InviteHistory, pick_invitees

NOW = datetime(2027, 3, 16, 9, tzinfo=UTC)


def test_least_invited_first_then_longest_ago() -> None:
    history = {
        "@a:x": InviteHistory(3, NOW),
        "@b:x": InviteHistory(1, NOW),
        "@c:x": InviteHistory(1, NOW - timedelta(days=9)),
    }
    assert pick_invitees(["@a:x", "@b:x", "@c:x", "@d:x"], history, 3, salt=1) == ["@d:x", "@c:x", "@b:x"]


def test_taking_turns_over_many_questions_spreads_the_invitations() -> None:
    members = [f"@m{i}:x" for i in range(10)]
    history: dict[str, InviteHistory] = {}
    for question in range(20):
        for user in pick_invitees(members, history, 3, salt=question):
            seen = history.get(user, InviteHistory())
            history[user] = InviteHistory(seen.count + 1, NOW + timedelta(minutes=question))
    counts = [history[m].count for m in members]
    assert max(counts) - min(counts) <= 1


@given(st.lists(st.sampled_from([f"@u{i}:x" for i in range(8)])), st.integers(0, 10), st.integers())
def test_picks_only_eligible_members_once_and_at_most_count(eligible: list[str], count: int, salt: int) -> None:
    picked = pick_invitees(eligible, {}, count, salt)
    assert len(picked) == len(set(picked)) == min(count, len(set(eligible)))
    assert set(picked) <= set(eligible)
    assert picked == pick_invitees(list(reversed(eligible)), {}, count, salt)
