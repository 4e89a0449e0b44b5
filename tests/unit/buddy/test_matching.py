"""The pure buddy matching: examples a member would recognise, and properties that
hold for any pool and any request."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from commands.buddy.matching import (
    NEIGHBOURS,
    BuddyQuery,
    Candidate,
    CandidatePool,
    is_eligible,
    mentoring_score,
    rank,
    region_score,
    score,
)
from commands.introductions.vocabulary import REGIONS

TODAY = date(2027, 3, 16)
PROFESSIONS = ["bedrijfsarts", "verzekeringsarts", "arbeidsdeskundige", "jobcoach"]
LEVELS = ["frisse-blik", "ervaren", "diepgaand"]
PROVINCES = [key for key in REGIONS.keys()]
THEMES = ["buikpijndossiers", "kanker-en-werk", "neurodiversiteit", "mentale-gezondheid"]
DAYS = ["ma", "di", "wo", "do", "vr"]


def query(**changes: object) -> BuddyQuery:
    base: dict[str, object] = {
        "requester": "@asker:x",
        "requester_profession": "arbeidsdeskundige",
        "requester_experience": "frisse-blik",
        "requester_region": "utrecht",
        "requester_themes": frozenset({"buikpijndossiers"}),
        "requester_days": frozenset({"di"}),
        "today": TODAY,
    }
    base.update(changes)
    return BuddyQuery(**base)  # type: ignore[arg-type]


def test_provinces_border_each_other_both_ways() -> None:
    for region, neighbours in NEIGHBOURS.items():
        assert region in REGIONS.keys()
        for other in neighbours:
            assert region in NEIGHBOURS[other], (region, other)
    assert set(NEIGHBOURS) == set(REGIONS.keys()) - {"landelijk"}


def test_a_newcomer_is_paired_with_an_experienced_member_first() -> None:
    pool = [
        Candidate("@peer:x", "arbeidsdeskundige", "frisse-blik", "utrecht"),
        Candidate("@mentor:x", "arbeidsdeskundige", "diepgaand", "utrecht"),
    ]
    assert [m.user_id for m in rank(query(), pool)] == ["@mentor:x", "@peer:x"]
    assert mentoring_score("diepgaand", "frisse-blik") == mentoring_score("frisse-blik", "ervaren")


def test_requested_profession_and_experience_are_firm() -> None:
    pool = [
        Candidate("@ba:x", "bedrijfsarts", "ervaren", "utrecht", themes=frozenset(THEMES)),
        Candidate("@ad:x", "arbeidsdeskundige", "diepgaand", "limburg"),
    ]
    found = rank(query(professions=frozenset({"arbeidsdeskundige"})), pool)
    assert [m.user_id for m in found] == ["@ad:x"]
    assert rank(query(experience=frozenset({"ervaren"}), professions=frozenset({"jobcoach"})), pool) == []


def test_region_same_beats_neighbour_beats_far_and_nationwide_counts_a_little() -> None:
    assert region_score({"utrecht"}, "utrecht") > region_score({"utrecht"}, "gelderland")
    assert region_score({"utrecht"}, "gelderland") > region_score({"utrecht"}, "landelijk") > 0
    assert region_score({"utrecht"}, "limburg") == 0
    pool = [
        Candidate("@far:x", "jobcoach", "ervaren", "limburg"),
        Candidate("@near:x", "jobcoach", "ervaren", "gelderland"),
        Candidate("@same:x", "jobcoach", "ervaren", "utrecht"),
    ]
    assert [m.user_id for m in rank(query(), pool)] == ["@same:x", "@near:x", "@far:x"]


def test_shared_themes_days_and_crossing_professions_count() -> None:
    pool = [
        Candidate("@own:x", "arbeidsdeskundige", "ervaren", "limburg"),
        Candidate("@other:x", "bedrijfsarts", "ervaren", "limburg"),
    ]
    assert rank(query(cross_profession=True), pool)[0].user_id == "@other:x"
    assert rank(query(), pool)[0].user_id == "@other:x"  # tie: fewer pairs, then user id
    themed = Candidate("@themed:x", "jobcoach", "ervaren", "limburg", themes=frozenset({"buikpijndossiers"}))
    dayed = Candidate("@dayed:x", "jobcoach", "ervaren", "limburg", days=frozenset({"di"}))
    assert [m.user_id for m in rank(query(), [dayed, themed])] == ["@themed:x", "@dayed:x"]


def test_never_self_full_paused_or_excluded() -> None:
    pool = [
        Candidate("@asker:x", "jobcoach", "ervaren"),
        Candidate("@full:x", "jobcoach", "ervaren", active_pairs=1, max_pairs=1),
        Candidate("@paused:x", "jobcoach", "ervaren", paused_until=TODAY + timedelta(days=1)),
        Candidate("@back:x", "jobcoach", "ervaren", paused_until=TODAY),
        Candidate("@blocked:x", "jobcoach", "ervaren"),
    ]
    found = rank(query(excluded=frozenset({"@blocked:x"})), pool)
    assert [m.user_id for m in found] == ["@back:x"]


def test_less_busy_candidates_first_on_a_tie() -> None:
    pool = [
        Candidate("@a:x", "jobcoach", "ervaren", active_pairs=1, max_pairs=3),
        Candidate("@b:x", "jobcoach", "ervaren", active_pairs=0, max_pairs=3),
    ]
    assert [m.user_id for m in rank(query(), pool)] == ["@b:x", "@a:x"]


# -- properties ------------------------------------------------------------------------

users = st.sampled_from([f"@u{i}:x" for i in range(12)])
candidates = st.builds(
    Candidate,
    user_id=users,
    profession=st.sampled_from(PROFESSIONS),
    experience=st.none() | st.sampled_from(LEVELS),
    region=st.none() | st.sampled_from(PROVINCES),
    themes=st.frozensets(st.sampled_from(THEMES)),
    days=st.frozensets(st.sampled_from(DAYS)),
    active_pairs=st.integers(0, 3),
    max_pairs=st.integers(1, 3),
    paused_until=st.none() | st.dates(TODAY - timedelta(days=5), TODAY + timedelta(days=5)),
)
pools = st.lists(candidates, max_size=15, unique_by=lambda c: c.user_id)
queries = st.builds(
    BuddyQuery,
    requester=users,
    requester_profession=st.none() | st.sampled_from(PROFESSIONS),
    requester_experience=st.none() | st.sampled_from(LEVELS),
    requester_region=st.none() | st.sampled_from(PROVINCES),
    requester_themes=st.frozensets(st.sampled_from(THEMES)),
    requester_days=st.frozensets(st.sampled_from(DAYS)),
    professions=st.frozensets(st.sampled_from(PROFESSIONS), max_size=2),
    experience=st.frozensets(st.sampled_from(LEVELS), max_size=2),
    regions=st.frozensets(st.sampled_from(PROVINCES), max_size=2),
    days=st.frozensets(st.sampled_from(DAYS), max_size=2),
    themes=st.frozensets(st.sampled_from(THEMES), max_size=2),
    cross_profession=st.booleans(),
    excluded=st.frozensets(users, max_size=4),
    today=st.just(TODAY),
)


@settings(max_examples=300, deadline=None)
@given(pools, queries, st.integers(1, 20))
def test_every_proposal_is_allowed_and_the_best_come_first(
    pool: list[Candidate], q: BuddyQuery, limit: int
) -> None:
    found = rank(q, pool, limit)
    by_id = {c.user_id: c for c in pool}
    assert len(found) <= limit
    assert len({m.user_id for m in found}) == len(found)
    for match in found:
        candidate = by_id[match.user_id]
        assert match.user_id != q.requester
        assert match.user_id not in q.excluded
        assert candidate.active_pairs < candidate.max_pairs
        assert candidate.paused_until is None or candidate.paused_until <= TODAY
        assert is_eligible(q, candidate)
        assert match.score == score(q, candidate)
    scores = [m.score for m in found]
    assert scores == sorted(scores, reverse=True)
    eligible = [c for c in pool if is_eligible(q, c)]
    assert len(found) == min(limit, len(eligible))
    if found and len(found) < len(eligible):
        # Nobody left out scores better than the last one proposed.
        left_out = [c for c in eligible if c.user_id not in {m.user_id for m in found}]
        assert max(score(q, c) for c in left_out) <= found[-1].score


@settings(max_examples=200, deadline=None)
@given(pools, queries, st.randoms(use_true_random=False))
def test_the_order_of_the_pool_does_not_matter(pool: list[Candidate], q: BuddyQuery, rnd: object) -> None:
    shuffled = list(pool)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert rank(q, pool, 5) == rank(q, shuffled, 5)
    built = CandidatePool(pool)
    assert built.rank(q, 5) == built.rank(q, 5)  # a pool is reusable


@settings(max_examples=200, deadline=None)
@given(pools, queries)
def test_blocking_or_excluding_someone_never_brings_in_them(pool: list[Candidate], q: BuddyQuery) -> None:
    first = rank(q, pool, 1)
    if not first:
        return
    again = rank(BuddyQuery(**{**q.__dict__, "excluded": q.excluded | {first[0].user_id}}), pool, 20)
    assert first[0].user_id not in {m.user_id for m in again}
