"""Whatever JSON the homeserver hands over, the event translation never raises: a broken
or foreign event is simply not translated (None), and what is translated is well-formed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ids import EventId, RoomId, UserId
from bot.matrix import events
from bot.transport import IncomingMessage, IncomingReaction, MemberJoined

ROOM = RoomId("!kamer:localhost")
BOT = "@kennisbrug:localhost"
GOOD_TS = 1_700_000_000_000

EVENT_TYPES = [
    "m.room.message",
    "m.reaction",
    "m.room.redaction",
    "m.room.member",
    "m.room.create",
    "m.room.power_levels",
    "m.room.encrypted",
    "m.sticker",
    "m.location",
    "m.poll.start",
    "org.matrix.msc3381.poll.start",
    "",
]
MSGTYPES = [
    "m.text",
    "m.notice",
    "m.emote",
    "m.image",
    "m.file",
    "m.audio",
    "m.video",
    "m.location",
    "m.poll.start",
    "m.key.verification.request",
    "m.server_notice",
    "nl.kennisbrug.custom",
    "",
]
REL_TYPES = ["m.replace", "m.thread", "m.annotation", "m.reference", "m.in_reply_to", ""]
MEMBERSHIPS = ["join", "invite", "leave", "ban", "knock", "JOIN", ""]
ROOM_VERSIONS = [
    "1",
    "9",
    "10",
    "11",
    "12",
    "13",
    "org.matrix.msc3757.10",
    "²",
    "٣",
    "1²",
    "9" * 5_000,
    "",
    "-1",
]
KEYS = [
    "event_id",
    "type",
    "sender",
    "origin_server_ts",
    "content",
    "state_key",
    "unsigned",
    "prev_content",
    "redacts",
    "membership",
    "msgtype",
    "body",
    "m.relates_to",
    "rel_type",
    "key",
    "m.in_reply_to",
    "is_falling_back",
    "m.new_content",
    "room_version",
    "additional_creators",
    "format",
    "formatted_body",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["$", "@", "!", "$e:x", "@a:b", ":", "\x00", "\ud800", "> <@a:b> x\n\ny"]),
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=8,
)


def maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes anything at all."""
    return st.one_of(valid, valid, junk)


event_ids = st.one_of(
    st.just("$e1:localhost"), st.text(max_size=12).map(lambda s: "$" + s), st.text(max_size=12)
)
user_ids = st.one_of(
    st.sampled_from(["@lid:localhost", BOT, "@x:y"]), st.text(max_size=12).map(lambda s: "@" + s)
)
timestamps = st.one_of(
    st.just(GOOD_TS),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**310),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
bodies = st.one_of(
    st.text(max_size=200),
    st.text(max_size=3).map(lambda s: (s or "x") * 40_000),
    st.sampled_from(["> <@a:b> quoted\n\nantwoord", "> x\n>y", ">\n\n", "!help", "\n" * 1000]),
)
in_reply_to = st.fixed_dictionaries({}, optional={"event_id": maybe(event_ids)})
relates_to = st.fixed_dictionaries(
    {},
    optional={
        "rel_type": maybe(st.sampled_from(REL_TYPES)),
        "event_id": maybe(event_ids),
        "key": maybe(st.one_of(st.text(max_size=80), st.just("👍"))),
        "m.in_reply_to": maybe(in_reply_to),
        "is_falling_back": maybe(st.booleans()),
    },
)
contents = st.one_of(
    junk,
    st.fixed_dictionaries(
        {},
        optional={
            "msgtype": maybe(st.sampled_from(MSGTYPES)),
            "body": maybe(bodies),
            "format": maybe(st.just("org.matrix.custom.html")),
            "formatted_body": maybe(st.text(max_size=50)),
            "m.relates_to": maybe(relates_to),
            "m.new_content": junk,
            "membership": maybe(st.sampled_from(MEMBERSHIPS)),
            "redacts": maybe(event_ids),
            "room_version": maybe(st.sampled_from(ROOM_VERSIONS)),
            "additional_creators": maybe(st.lists(st.one_of(user_ids, junk), max_size=4)),
            "geo_uri": maybe(st.just("geo:52.1,5.1")),
            "org.matrix.msc3381.poll.start": junk,
        },
    ),
)
raw_events = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), junk, max_size=8),
    st.fixed_dictionaries(
        {},
        optional={
            "event_id": maybe(event_ids),
            "type": maybe(st.sampled_from(EVENT_TYPES)),
            "sender": maybe(user_ids),
            "origin_server_ts": maybe(timestamps),
            "content": contents,
            "state_key": maybe(st.one_of(user_ids, st.just(""))),
            "unsigned": maybe(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "prev_content": maybe(
                            st.fixed_dictionaries(
                                {}, optional={"membership": maybe(st.sampled_from(MEMBERSHIPS))}
                            )
                        ),
                        "age": junk,
                    },
                )
            ),
            "redacts": maybe(event_ids),
        },
    ),
)


def check_message(msg: IncomingMessage | None) -> None:
    if msg is None:
        return
    assert isinstance(msg, IncomingMessage)
    assert isinstance(msg.body, str) and isinstance(msg.event_id, str) and isinstance(msg.sender, str)
    assert msg.timestamp.tzinfo is not None
    for ref in (msg.thread_root, msg.reply_to):
        assert ref is None or (isinstance(ref, str) and ref.startswith("$"))


def check_reaction(reaction: IncomingReaction | None) -> None:
    if reaction is None:
        return
    assert isinstance(reaction, IncomingReaction)
    assert isinstance(reaction.key, str) and 0 < len(reaction.key) <= 64
    assert reaction.target_event_id.startswith("$")


def check_joined(joined: MemberJoined | None) -> None:
    if joined is None:
        return
    assert isinstance(joined, MemberJoined) and joined.user_id.startswith("@")


def exercise(source: dict[str, Any], basics: events.EventBasics | None = None) -> None:
    """Every translation function on one raw event: none may raise."""
    ev = events.basics(source)
    if ev is not None:
        assert isinstance(ev.event_id, str) and isinstance(ev.type, str) and isinstance(ev.sender, str)
        assert isinstance(ev.content, Mapping) and ev.timestamp.tzinfo is not None
        events.server_of(ev.sender)
    for candidate in (ev, basics):
        if candidate is None:
            continue
        for direct in (False, True):
            check_message(events.to_message(ROOM, candidate, direct))
        check_reaction(events.to_reaction(ROOM, candidate))
        removal = events.to_redaction(source, candidate)
        assert removal is None or removal.redacts.startswith("$")
        check_joined(events.to_member_joined(ROOM, source, candidate))
    change = events.membership_change(source)
    assert change is None or isinstance(change[0], str)
    assert isinstance(events.is_own_arrival(source, BOT), bool)
    found = events.creators_of(source)
    if found is not None:
        version, creators = found
        assert isinstance(version, str) and all(isinstance(c, str) for c in creators)
        assert isinstance(events.creators_have_power(version), bool)
    moment = events.timestamp_of(source.get("origin_server_ts"))
    assert moment is None or moment.tzinfo is not None
    body = source.get("content", {}).get("body") if isinstance(source.get("content"), dict) else None
    if isinstance(body, str):
        assert isinstance(events.strip_reply_fallback(body), str)


def forced_basics(source: dict[str, Any], content: Any) -> events.EventBasics:
    """An event that passed ``basics`` but carries any content mapping at all."""
    event_type = source.get("type")
    return events.EventBasics(
        event_id=EventId("$forced"),
        type=event_type if isinstance(event_type, str) else "m.room.message",
        sender=UserId("@lid:localhost"),
        timestamp=datetime.fromtimestamp(GOOD_TS / 1000, UTC),
        content=content if isinstance(content, Mapping) else {"body": content},
    )


@settings(max_examples=800, deadline=None, database=None)
@given(source=raw_events, content=contents)
def test_no_event_makes_the_translation_raise(source: dict[str, Any], content: Any) -> None:
    exercise(source, forced_basics(source, content))


@settings(max_examples=150, deadline=None, database=None)
@given(sources=st.lists(raw_events, max_size=6), own=st.sampled_from([BOT, "@lid:localhost", ""]))
def test_history_start_copes_with_any_timeline(sources: list[dict[str, Any]], own: str) -> None:
    start = events.history_start(sources, own)
    assert 0 <= start <= len(sources)


@settings(max_examples=500, deadline=None, database=None)
@given(
    version=st.one_of(
        st.text(), st.sampled_from(ROOM_VERSIONS), st.from_regex(r"[0-9]{1,6000}", fullmatch=True)
    )
)
def test_any_room_version_is_judged(version: str) -> None:
    assert isinstance(events.creators_have_power(version), bool)


@settings(max_examples=300, deadline=None, database=None)
@given(ms=st.one_of(timestamps, junk))
def test_any_timestamp_is_read_or_refused(ms: Any) -> None:
    moment = events.timestamp_of(ms)
    assert moment is None or moment.tzinfo is not None


# -- by example -----------------------------------------------------------------------


def raw(event_type: str, content: Any, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": "$e1",
        "type": event_type,
        "sender": "@lid:localhost",
        "origin_server_ts": GOOD_TS,
        "content": content,
        **extra,
    }


@pytest.mark.parametrize(
    "content",
    [
        {"msgtype": "m.location", "body": "Utrecht", "geo_uri": "geo:52.09,5.12"},
        {"msgtype": "m.poll.start", "body": "Wie komt er?"},
        {"msgtype": "m.text", "body": ["lijst"]},
        {"msgtype": "m.text", "body": {"nested": "junk"}},
        {"msgtype": "m.text", "body": None},
        {"msgtype": ["m.text"], "body": "x"},
        {"msgtype": "m.text", "body": "* nieuw", "m.relates_to": {"rel_type": "m.replace", "event_id": "$a"}},
        {"msgtype": "m.text", "body": "* nieuw", "m.new_content": "kapot"},
        ["m.text", "hallo"],
        "hallo",
        None,
        42,
    ],
)
def test_foreign_or_broken_messages_give_none(content: Any) -> None:
    ev = events.basics(raw("m.room.message", content))
    assert ev is None or events.to_message(ROOM, ev, is_direct=False) is None


@pytest.mark.parametrize(
    "source",
    [
        raw("org.matrix.msc3381.poll.start", {"org.matrix.msc3381.poll.start": {"question": {}}}),
        raw("m.room.message", {"msgtype": "m.text", "body": "x"}, origin_server_ts=float("nan")),
        raw("m.room.message", {"msgtype": "m.text", "body": "x"}, origin_server_ts=10**400),
        raw("m.room.message", {"msgtype": "m.text", "body": "x"}, origin_server_ts="1700000000000"),
        raw("m.room.message", {"msgtype": "m.text", "body": "x"}, event_id=None),
        raw("m.room.message", {"msgtype": "m.text", "body": "x"}, sender=["@a:b"]),
        raw("m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$a", "key": "x" * 65}}),
        raw("m.reaction", {"m.relates_to": ["m.annotation"]}),
        raw("m.room.redaction", {"redacts": 5}, redacts={"$a": 1}),
        raw("m.room.member", {"membership": "join"}, state_key=None),
        raw("m.room.member", {"membership": ["join"]}, state_key="@a:b", unsigned="oud"),
        raw("m.room.create", {"room_version": "²"}),
        raw("m.room.create", {"room_version": "9" * 5_000}),
        raw("m.room.create", {"room_version": 12, "additional_creators": "@a:b"}),
    ],
)
def test_broken_events_are_not_translated(source: dict[str, Any]) -> None:
    exercise(source)


def test_odd_room_versions_do_not_raise() -> None:
    assert events.creators_have_power("12") is True
    assert events.creators_have_power("0012") is True
    assert events.creators_have_power("11") is False
    assert events.creators_have_power("9" * 5_000) is True
    assert isinstance(events.creators_have_power("²"), bool)
    assert isinstance(events.creators_have_power("١٢"), bool)
