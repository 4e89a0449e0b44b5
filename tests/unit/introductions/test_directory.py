"""The member directory behind ``!zoek``: who a search finds, and in what order."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.introductions.directory import DirectoryIndex, DirectoryQuery, SearchPage
from commands.introductions.records import ProfileRecord

NOW = datetime(2027, 3, 16, 9, 0, tzinfo=UTC)


def describe(record: ProfileRecord) -> str:
    """A stand-in for the feature's describe(): labels, then the member's own texts."""
    labels = {"bedrijfsarts": "Bedrijfsarts Occupational physician", "jobcoach": "Jobcoach Job coach"}
    parts = [
        labels.get(record.profession, record.profession),
        record.region or "",
        record.experience or "",
        " ".join(record.themes),
        " ".join(record.goals),
        record.about or "",
        record.weighing or "",
    ]
    return " ".join(parts)


def member(user_id: str, profession: str = "bedrijfsarts", **fields: Any) -> ProfileRecord:
    fields.setdefault("listed", True)
    return ProfileRecord(user_id=user_id, profession=profession, **fields)


def index_of(*records: ProfileRecord) -> DirectoryIndex:
    index = DirectoryIndex(describe)
    index.load(records)
    return index


def found(index: DirectoryIndex, query: DirectoryQuery, page_size: int = 100) -> list[str]:
    return [r.user_id for r in index.search(query, page_size=page_size).results]


def q(**fields: Iterable[str]) -> DirectoryQuery:
    """A query from plain sets/lists, as a test reads best."""
    converted: dict[str, Any] = {}
    for name, value in fields.items():
        converted[name] = tuple(value) if name == "words" else frozenset(value)
    return DirectoryQuery(**converted)


# -- filters -------------------------------------------------------------------------


def test_an_empty_query_finds_every_listed_member() -> None:
    index = index_of(member("@a:x"), member("@b:x"), member("@c:x", listed=False))
    assert DirectoryQuery().is_empty()
    assert sorted(found(index, DirectoryQuery())) == ["@a:x", "@b:x"]


def test_a_profession_filter_finds_that_profession_and_any_of_several() -> None:
    index = index_of(
        member("@ba:x", "bedrijfsarts"),
        member("@ad:x", "arbeidsdeskundige"),
        member("@jc:x", "jobcoach"),
    )
    assert found(index, q(professions={"arbeidsdeskundige"})) == ["@ad:x"]
    assert sorted(found(index, q(professions={"arbeidsdeskundige", "jobcoach"}))) == ["@ad:x", "@jc:x"]
    assert found(index, q(professions={"verzekeringsarts"})) == []


def test_an_experience_filter_finds_any_of_the_levels_asked_and_skips_members_without_one() -> None:
    index = index_of(
        member("@new:x", experience="frisse-blik"),
        member("@mid:x", experience="ervaren"),
        member("@deep:x", experience="diepgaand"),
        member("@unknown:x"),
    )
    assert found(index, q(experience={"diepgaand"})) == ["@deep:x"]
    assert sorted(found(index, q(experience={"ervaren", "diepgaand"}))) == ["@deep:x", "@mid:x"]


def test_a_day_filter_matches_work_days_and_meeting_days() -> None:
    index = index_of(
        member("@works-tue:x", work_days=("di",)),
        member("@meets-tue:x", meet_days=("di",)),
        member("@monday:x", work_days=("ma",), meet_days=("ma",)),
    )
    assert sorted(found(index, q(days={"di"}))) == ["@meets-tue:x", "@works-tue:x"]
    assert sorted(found(index, q(days={"di", "ma"}))) == ["@meets-tue:x", "@monday:x", "@works-tue:x"]


def test_theme_and_goal_filters_need_one_shared_value() -> None:
    index = index_of(
        member("@cancer:x", themes=("kanker-en-werk",), goals=("netwerk",)),
        member("@neuro:x", themes=("neurodiversiteit",), goals=("buddy",)),
        member("@none:x"),
    )
    assert found(index, q(themes={"kanker-en-werk"})) == ["@cancer:x"]
    assert sorted(found(index, q(themes={"kanker-en-werk", "neurodiversiteit"}))) == ["@cancer:x", "@neuro:x"]
    assert found(index, q(goals={"buddy"})) == ["@neuro:x"]


def test_a_meet_filter_finds_members_who_want_to_meet_any_of_the_professions_asked() -> None:
    index = index_of(
        member("@wants-ad:x", "bedrijfsarts", meet_professions=("arbeidsdeskundige",)),
        member("@wants-jc:x", "arbeidsdeskundige", meet_professions=("jobcoach", "casemanager")),
        member("@no-choice:x", "arbeidsdeskundige"),
        member("@hidden:x", meet_professions=("arbeidsdeskundige",), listed=False),
    )
    assert found(index, q(meet_professions={"arbeidsdeskundige"})) == ["@wants-ad:x"]
    assert sorted(found(index, q(meet_professions={"arbeidsdeskundige", "casemanager"}))) == [
        "@wants-ad:x",
        "@wants-jc:x",
    ]
    # Their own profession is another filter: an AD who wants to meet job coaches.
    assert found(index, q(professions={"arbeidsdeskundige"}, meet_professions={"jobcoach"})) == [
        "@wants-jc:x"
    ]
    assert not q(meet_professions={"jobcoach"}).is_empty()


def test_every_field_asked_must_match() -> None:
    index = index_of(
        member("@ba-utrecht:x", "bedrijfsarts", region="utrecht"),
        member("@ba-limburg:x", "bedrijfsarts", region="limburg"),
        member("@ad-utrecht:x", "arbeidsdeskundige", region="utrecht"),
    )
    assert found(index, q(professions={"bedrijfsarts"}, regions={"utrecht"})) == ["@ba-utrecht:x"]
    assert found(index, q(professions={"bedrijfsarts"}, regions={"utrecht"}, days={"ma"})) == []


def test_a_nationwide_member_matches_any_region_but_after_the_members_of_that_region() -> None:
    # The nationwide member has the fuller, fresher profile and would otherwise win.
    index = index_of(
        member("@national:x", region="landelijk", about="overal", setting="uwv", updated_at=NOW),
        member("@utrecht:x", region="utrecht", updated_at=NOW - timedelta(days=300)),
        member("@limburg:x", region="limburg"),
        member("@nowhere:x"),
    )
    assert found(index, q(regions={"utrecht"})) == ["@utrecht:x", "@national:x"]
    assert found(index, q(regions={"utrecht", "limburg"}))[-1] == "@national:x"
    # Asking for nationwide members finds only them.
    assert found(index, q(regions={"landelijk"})) == ["@national:x"]


def test_free_text_needs_every_word_ignoring_case_and_accents() -> None:
    index = index_of(
        member("@a:x", about="Ik werk met CAFÉ-medewerkers in de zorg"),
        member("@b:x", about="Re-integratie na burn-out", weighing="Ik weeg de belastbaarheid"),
        member("@c:x", "jobcoach", about="Zorg"),
    )
    assert found(index, q(words=["cafe"])) == ["@a:x"]
    assert found(index, q(words=["café"])) == ["@a:x"]
    assert sorted(found(index, q(words=["zorg"]))) == ["@a:x", "@c:x"]
    assert found(index, q(words=["zorg", "medewerkers"])) == ["@a:x"]
    assert found(index, q(words=["burn", "belastbaar"])) == ["@b:x"]
    # Words may come from the labels that describe() adds, in either language.
    assert found(index, q(words=["coach"])) == ["@c:x"]
    assert found(index, q(words=["zorg", "nergens"])) == []


def test_a_phrase_must_occur_as_written() -> None:
    index = index_of(member("@a:x", about="kanker en werk"), member("@b:x", about="werk en kanker"))
    assert found(index, q(words=["kanker en werk"])) == ["@a:x"]
    assert sorted(found(index, q(words=["kanker", "werk"]))) == ["@a:x", "@b:x"]


def test_blank_words_are_ignored() -> None:
    index = index_of(member("@a:x"), member("@b:x"))
    query = q(words=["", "  "])
    assert query.is_empty()
    assert sorted(found(index, query)) == ["@a:x", "@b:x"]


# -- ranking -------------------------------------------------------------------------


def test_meeting_on_an_asked_day_ranks_above_only_working_then() -> None:
    index = index_of(
        member("@works:x", work_days=("di",), about="volledig", updated_at=NOW),
        member("@meets:x", meet_days=("di",)),
    )
    assert found(index, q(days={"di"})) == ["@meets:x", "@works:x"]


def test_more_shared_days_themes_and_goals_rank_higher_than_a_fuller_fresher_profile() -> None:
    # Each time the member with less in common has the fuller, fresher profile.
    fuller: dict[str, Any] = {"about": "vol", "setting": "uwv", "updated_at": NOW}
    days = index_of(member("@one:x", work_days=("ma",), **fuller), member("@two:x", work_days=("ma", "di")))
    assert found(days, q(days={"ma", "di"})) == ["@two:x", "@one:x"]
    themes = index_of(member("@one:x", themes=("a",), **fuller), member("@two:x", themes=("a", "b")))
    assert found(themes, q(themes={"a", "b"})) == ["@two:x", "@one:x"]
    goals = index_of(
        member("@one:x", goals=("netwerk",), **fuller), member("@two:x", goals=("netwerk", "buddy"))
    )
    assert found(goals, q(goals={"netwerk", "buddy"})) == ["@two:x", "@one:x"]
    # Unasked values do not count: then the fuller profile comes first.
    assert found(goals, q(goals={"netwerk"})) == ["@one:x", "@two:x"]


def assert_equal_relevance(first: dict[str, Any], second: dict[str, Any], query: DirectoryQuery) -> None:
    """Two equally full profiles tie on relevance when only their user ids order them."""
    for ids in (("@a:x", "@b:x"), ("@b:x", "@a:x")):
        index = index_of(member(ids[0], **first), member(ids[1], **second))
        assert found(index, query) == ["@a:x", "@b:x"], ids


def test_relevance_weights_a_theme_a_goal_and_a_meeting_day_as_two_working_days() -> None:
    days = q(days={"ma", "di"})
    assert_equal_relevance({"meet_days": ("ma",)}, {"work_days": ("ma", "di")}, days)
    assert_equal_relevance(
        {"themes": ("a", "b"), "meet_days": ("ma",)},
        {"themes": ("a",), "meet_days": ("ma", "di")},
        q(themes={"a", "b"}, days={"ma", "di"}),
    )
    assert_equal_relevance(
        {"goals": ("netwerk", "buddy"), "meet_days": ("ma",)},
        {"goals": ("netwerk",), "meet_days": ("ma", "di")},
        q(goals={"netwerk", "buddy"}, days={"ma", "di"}),
    )
    # A word in the member's own text weighs as much as one working day; "zorg" in
    # the goal label of the second makes them match without it counting.
    assert_equal_relevance(
        {"work_days": ("ma",), "about": "zorg"},
        {"work_days": ("ma", "di"), "goals": ("zorg",)},
        q(days={"ma", "di"}, words=["zorg"]),
    )


def test_a_word_in_the_members_own_text_ranks_above_one_only_in_the_labels() -> None:
    index = index_of(
        member("@label:x", "jobcoach", updated_at=NOW, setting="uwv"),
        member("@own:x", "anders", about="Ik ben jobcoach"),
    )
    assert found(index, q(words=["jobcoach"])) == ["@own:x", "@label:x"]


def test_then_fuller_profiles_then_fresher_ones_then_by_user_id() -> None:
    index = index_of(
        member("@z-full-old:x", about="tekst", region="utrecht", updated_at=NOW - timedelta(days=9)),
        member("@y-full-new:x", about="tekst", region="utrecht", updated_at=NOW),
        member("@b-bare:x"),
        member("@a-bare:x"),
        member("@c-bare-dated:x", updated_at=NOW - timedelta(days=900)),
    )
    assert found(index, DirectoryQuery()) == [
        "@y-full-new:x",
        "@z-full-old:x",
        "@c-bare-dated:x",
        "@a-bare:x",
        "@b-bare:x",
    ]
    assert found(index, q(professions={"bedrijfsarts"})) == found(index, DirectoryQuery())


# -- paging --------------------------------------------------------------------------


def _many(n: int) -> DirectoryIndex:
    return index_of(*(member(f"@m{i:02d}:x", updated_at=NOW - timedelta(hours=i)) for i in range(n)))


def test_pages_report_the_total_and_the_page_count() -> None:
    index = _many(25)
    first = index.search(DirectoryQuery(), page=1, page_size=10)
    last = index.search(DirectoryQuery(), page=3, page_size=10)
    assert (first.total, first.page, first.pages) == (25, 1, 3)
    assert [r.user_id for r in first.results] == [f"@m{i:02d}:x" for i in range(10)]
    assert [r.user_id for r in last.results] == [f"@m{i:02d}:x" for i in range(20, 25)]


def test_a_page_out_of_range_is_clamped() -> None:
    index = _many(25)
    assert index.search(DirectoryQuery(), page=0, page_size=10).page == 1
    assert index.search(DirectoryQuery(), page=-4, page_size=10).page == 1
    beyond = index.search(DirectoryQuery(), page=99, page_size=10)
    assert (beyond.page, len(beyond.results)) == (3, 5)


def test_no_results_is_one_empty_page() -> None:
    assert _many(3).search(q(professions={"jobcoach"}), page=5) == SearchPage(
        results=[], total=0, page=1, pages=1
    )
    assert DirectoryIndex(describe).search(DirectoryQuery()) == SearchPage(
        results=[], total=0, page=1, pages=1
    )


def test_a_page_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        _many(3).search(DirectoryQuery(), page_size=0)


# -- keeping up with writes ----------------------------------------------------------


def test_replace_adds_updates_and_moves_a_member_between_filters() -> None:
    index = DirectoryIndex(describe)
    index.replace(
        member("@a:x", "bedrijfsarts", region="utrecht", about="oud", meet_professions=("jobcoach",))
    )
    assert len(index) == 1
    index.replace(member("@a:x", "jobcoach", region="limburg", about="nieuw"))
    assert len(index) == 1
    assert index.get("@a:x") == member("@a:x", "jobcoach", region="limburg", about="nieuw")
    assert found(index, q(professions={"bedrijfsarts"})) == []
    assert found(index, q(meet_professions={"jobcoach"})) == []
    assert found(index, q(regions={"utrecht"})) == []
    assert found(index, q(words=["oud"])) == []
    assert found(index, q(professions={"jobcoach"}, regions={"limburg"}, words=["nieuw"])) == ["@a:x"]


def test_a_member_who_unlists_leaves_the_directory() -> None:
    index = index_of(member("@a:x"), member("@b:x"))
    index.replace(member("@a:x", listed=False))
    assert index.get("@a:x") is None
    assert found(index, DirectoryQuery()) == ["@b:x"]
    index.replace(member("@never:x", listed=False))
    assert len(index) == 1


def test_remove_forgets_a_member_and_ignores_strangers() -> None:
    index = index_of(member("@a:x", themes=("t",)), member("@b:x"))
    index.remove("@a:x")
    index.remove("@stranger:x")
    assert found(index, DirectoryQuery()) == ["@b:x"]
    assert found(index, q(themes={"t"})) == []
    assert index.counts().total == 1


def test_load_replaces_everything_and_the_last_record_of_a_member_wins() -> None:
    index = index_of(member("@old:x"))
    index.load([member("@a:x", "bedrijfsarts"), member("@a:x", "jobcoach"), member("@b:x", listed=False)])
    assert found(index, DirectoryQuery()) == ["@a:x"]
    assert index.get("@a:x") == member("@a:x", "jobcoach")
    index.load([member("@a:x", "jobcoach"), member("@a:x", "jobcoach", listed=False)])
    assert len(index) == 0


def test_counts_by_profession_and_region() -> None:
    index = index_of(
        member("@a:x", "bedrijfsarts", region="utrecht"),
        member("@b:x", "bedrijfsarts", region="landelijk"),
        member("@c:x", "jobcoach", region="utrecht"),
        member("@d:x", "jobcoach"),
        member("@e:x", "jobcoach", region="limburg", listed=False),
    )
    counts = index.counts()
    assert counts.by_profession == {"bedrijfsarts": 2, "jobcoach": 2}
    assert counts.by_region == {"landelijk": 1, "utrecht": 2}
    assert counts.total == 4


# -- properties against a brute-force directory --------------------------------------


def naive_fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(bare.split())


def naive_words(query: DirectoryQuery) -> list[str]:
    return list(dict.fromkeys(w for w in (naive_fold(word) for word in query.words) if w))


def naive_matches(record: ProfileRecord, query: DirectoryQuery) -> bool:
    if query.professions and record.profession not in query.professions:
        return False
    if query.experience and record.experience not in query.experience:
        return False
    if query.regions and record.region not in query.regions and record.region != "landelijk":
        return False
    if query.days and not query.days & (set(record.work_days) | set(record.meet_days)):
        return False
    if query.themes and not query.themes & set(record.themes):
        return False
    if query.goals and not query.goals & set(record.goals):
        return False
    if query.meet_professions and not query.meet_professions & set(record.meet_professions):
        return False
    text = naive_fold(describe(record))
    return all(word in text for word in naive_words(query))


def naive_rank(record: ProfileRecord, query: DirectoryQuery) -> tuple[object, ...]:
    region_rank = 0 if not query.regions or record.region in query.regions else 1
    days = sum(2 if d in record.meet_days else 1 if d in record.work_days else 0 for d in query.days)
    own = naive_fold(" ".join(t for t in (record.about, record.weighing) if t))
    relevance = (
        days
        + 2 * len(query.themes & set(record.themes))
        + 2 * len(query.goals & set(record.goals))
        + sum(1 for word in naive_words(query) if word in own)
    )
    filled = [
        record.experience,
        record.years is not None,
        record.region,
        record.setting,
        record.work_days,
        record.meet_days,
        record.goals,
        record.themes,
        record.meet_professions,
        (record.about or "").strip(),
        (record.weighing or "").strip(),
    ]
    fresh = record.updated_at.timestamp() if record.updated_at else float("-inf")
    return (region_rank, -relevance, -sum(1 for f in filled if f), -fresh, record.user_id)


def naive_search(records: list[ProfileRecord], query: DirectoryQuery) -> list[str]:
    latest = {r.user_id: r for r in records}
    listed = [r for r in latest.values() if r.listed and naive_matches(r, query)]
    return [r.user_id for r in sorted(listed, key=lambda r: naive_rank(r, query))]


def all_pages(index: DirectoryIndex, query: DirectoryQuery, page_size: int) -> list[list[ProfileRecord]]:
    first = index.search(query, page=1, page_size=page_size)
    pages = [first.results]
    for number in range(2, first.pages + 1):
        page = index.search(query, page=number, page_size=page_size)
        assert (page.page, page.pages, page.total) == (number, first.pages, first.total)
        pages.append(page.results)
    return pages


PROFESSIONS = ["bedrijfsarts", "jobcoach", "arbeidsdeskundige"]
REGIONS = ["utrecht", "limburg", "zeeland", "landelijk"]
EXPERIENCE = ["frisse-blik", "ervaren", "diepgaand"]
DAYS = ["ma", "di", "wo", "do", "vr"]
THEMES = ["kanker-en-werk", "neurodiversiteit", "demedicaliseren"]
GOALS = ["netwerk", "buddy", "wetgeving"]
# Few letters (with accents and capitals) so that short words often occur.
TEXT = st.text(alphabet="abeéEÉüçß -", max_size=12)
WORD = st.text(alphabet="abeéEÜçs -", min_size=0, max_size=3)
STAMPS = [None, NOW, NOW - timedelta(days=1), NOW - timedelta(days=30)]

records_strategy = st.builds(
    ProfileRecord,
    user_id=st.sampled_from([f"@u{i}:x" for i in range(25)]),
    profession=st.sampled_from(PROFESSIONS),
    experience=st.none() | st.sampled_from(EXPERIENCE),
    years=st.none() | st.integers(0, 40),
    region=st.none() | st.sampled_from(REGIONS),
    setting=st.none() | st.sampled_from(["uwv", "arbodienst"]),
    work_days=st.lists(st.sampled_from(DAYS), unique=True, max_size=3).map(tuple),
    meet_days=st.lists(st.sampled_from(DAYS), unique=True, max_size=2).map(tuple),
    goals=st.lists(st.sampled_from(GOALS), unique=True, max_size=2).map(tuple),
    themes=st.lists(st.sampled_from(THEMES), unique=True, max_size=2).map(tuple),
    meet_professions=st.lists(st.sampled_from(PROFESSIONS), unique=True, max_size=2).map(tuple),
    about=st.none() | TEXT,
    weighing=st.none() | TEXT,
    listed=st.sampled_from([True, True, True, False]),
    updated_at=st.sampled_from(STAMPS),
)


def _subset(values: list[str]) -> st.SearchStrategy[frozenset[str]]:
    # Now and then an empty set, and now and then a value no member has.
    return st.frozensets(st.sampled_from([*values, "onbekend"]), max_size=2)


queries_strategy = st.builds(
    DirectoryQuery,
    professions=_subset(PROFESSIONS),
    regions=_subset(REGIONS),
    experience=_subset(EXPERIENCE),
    days=_subset(DAYS),
    themes=_subset(THEMES),
    goals=_subset(GOALS),
    meet_professions=_subset(PROFESSIONS),
    words=st.lists(WORD, max_size=2).map(tuple),
)

# Single-field queries find something far more often than random combinations.
single_field_queries = st.one_of(
    st.builds(DirectoryQuery, regions=_subset(REGIONS)),
    st.builds(DirectoryQuery, days=_subset(DAYS)),
    st.builds(DirectoryQuery, themes=_subset(THEMES), goals=_subset(GOALS)),
    st.builds(DirectoryQuery, words=st.lists(WORD, max_size=2).map(tuple)),
    st.builds(DirectoryQuery, professions=_subset(PROFESSIONS), days=_subset(DAYS)),
    st.builds(DirectoryQuery, meet_professions=_subset(PROFESSIONS), regions=_subset(REGIONS)),
)
any_query = st.one_of(queries_strategy, single_field_queries)
records_list = st.lists(records_strategy, max_size=40)


@settings(max_examples=300, deadline=None)
@given(records=records_list, query=any_query)
def test_every_result_matches_every_filter(records: list[ProfileRecord], query: DirectoryQuery) -> None:
    index = index_of(*records)
    for page in all_pages(index, query, page_size=4):
        for record in page:
            assert record.listed
            assert naive_matches(record, query)


@settings(max_examples=300, deadline=None)
@given(records=records_list, query=any_query, page_size=st.integers(1, 7))
def test_results_are_the_brute_force_results_in_the_documented_order(
    records: list[ProfileRecord], query: DirectoryQuery, page_size: int
) -> None:
    index = index_of(*records)
    listed = [r.user_id for page in all_pages(index, query, page_size) for r in page]
    assert listed == naive_search(records, query)


@settings(max_examples=200, deadline=None)
@given(records=records_list, query=any_query, page_size=st.integers(1, 7))
def test_pages_partition_the_results_without_duplicates(
    records: list[ProfileRecord], query: DirectoryQuery, page_size: int
) -> None:
    index = index_of(*records)
    pages = all_pages(index, query, page_size)
    total = index.search(query, page_size=page_size).total
    ids = [r.user_id for page in pages for r in page]
    assert len(ids) == len(set(ids)) == total
    assert all(len(page) == page_size for page in pages[:-1])
    assert 0 < len(pages[-1]) <= page_size or total == 0
    assert set(ids) == set(naive_search(records, query))


@settings(max_examples=200, deadline=None)
@given(
    records=records_list,
    removals=st.lists(st.sampled_from([f"@u{i}:x" for i in range(25)]), max_size=5),
    query=any_query,
    data=st.data(),
)
def test_order_is_the_same_however_the_directory_was_built(
    records: list[ProfileRecord], removals: list[str], query: DirectoryQuery, data: st.DataObject
) -> None:
    # Written one by one with removals in between, against loaded in one go, shuffled.
    written = DirectoryIndex(describe)
    for record in records:
        written.replace(record)
    for user_id in removals:
        written.remove(user_id)
    final = {r.user_id: r for r in records}
    for user_id in removals:
        final.pop(user_id, None)
    shuffled = data.draw(st.permutations(list(final.values())))
    loaded = index_of(*shuffled)

    def listing(index: DirectoryIndex) -> list[str]:
        return [r.user_id for page in all_pages(index, query, page_size=3) for r in page]

    assert listing(written) == listing(loaded) == listing(written)
    assert written.counts() == loaded.counts()
    assert len(written) == len(loaded) == sum(1 for r in final.values() if r.listed)


def test_the_same_search_gives_the_same_page_whatever_the_order_members_joined_in() -> None:
    records = [
        member(f"@m{i}:x", PROFESSIONS[i % 3], region=REGIONS[i % 4], work_days=(DAYS[i % 5],))
        for i in range(30)
    ]
    forwards, backwards = index_of(*records), DirectoryIndex(describe)
    for record in reversed(records):
        backwards.replace(record)
    query = q(regions={"utrecht"}, days={"ma", "di"})
    page = forwards.search(query, page=2, page_size=2)
    assert page == forwards.search(query, page=2, page_size=2) == backwards.search(query, page=2, page_size=2)
    assert (page.total, len(page.results)) == (5, 2)


# Many members sharing a small vocabulary: the directory then looks words up through
# its token index instead of reading every profile, which must not change the answer.
VOCABULARY_WORDS = ["werk", "zorg", "café", "re-integratie", "Werkgever", "burn-out"]
SENTENCE = st.lists(st.sampled_from(VOCABULARY_WORDS), max_size=4).map(" ".join)
crowd_strategy = st.lists(
    st.builds(
        ProfileRecord,
        user_id=st.sampled_from([f"@c{i}:x" for i in range(300)]),
        profession=st.sampled_from(PROFESSIONS),
        region=st.none() | st.sampled_from(REGIONS),
        work_days=st.lists(st.sampled_from(DAYS), unique=True, max_size=2).map(tuple),
        about=st.none() | SENTENCE,
        weighing=st.none() | SENTENCE,
        listed=st.just(True),
        updated_at=st.sampled_from(STAMPS),
    ),
    min_size=40,
    max_size=90,
)
crowd_words = st.lists(
    st.sampled_from(["werk", "zorg", "cafe", "CAFÉ", "integratie", "werkgever", "burn", "zorg werk", "x"]),
    min_size=1,
    max_size=2,
).map(tuple)


@settings(max_examples=50, deadline=None)
@given(
    records=crowd_strategy,
    words=crowd_words,
    regions=_subset(REGIONS),
    page=st.integers(1, 4),
)
def test_free_text_in_a_crowd_matches_brute_force(
    records: list[ProfileRecord], words: tuple[str, ...], regions: frozenset[str], page: int
) -> None:
    index = index_of(*records)
    query = DirectoryQuery(regions=regions, words=words)
    expected = naive_search(records, query)
    result = index.search(query, page=page, page_size=10)
    assert result.total == len(expected)
    start = (result.page - 1) * 10
    assert [r.user_id for r in result.results] == expected[start : start + 10]
