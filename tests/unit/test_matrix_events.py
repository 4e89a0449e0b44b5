"""Raw Matrix events → Incoming* values, and outgoing content: pure functions, no server."""

from __future__ import annotations

from typing import Any

import pytest

from bot.ids import EventId, RoomId, UserId
from bot.matrix import events, sending
from bot.transport import OutgoingMessage, Upload

ROOM = RoomId("!kamer")
BOT = "@kennisbrug:localhost"


def raw(event_type: str, content: Any, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": extra.pop("event_id", "$e1"),
        "type": event_type,
        "sender": extra.pop("sender", "@lid:localhost"),
        "origin_server_ts": 1_700_000_000_000,
        "content": content,
        **extra,
    }


def message(content: Any) -> Any:
    ev = events.basics(raw("m.room.message", content))
    return events.to_message(ROOM, ev, is_direct=False) if ev else None


def test_plain_text_message() -> None:
    msg = message({"msgtype": "m.text", "body": "hallo"})
    assert msg is not None
    assert (msg.body, msg.sender, msg.thread_root, msg.reply_to) == ("hallo", "@lid:localhost", None, None)
    assert msg.timestamp.year == 2023


@pytest.mark.parametrize(
    "content",
    [
        {"msgtype": "m.notice", "body": "een andere bot"},
        {"msgtype": "m.emote", "body": "zwaait"},
        {"msgtype": "m.image", "body": "foto.png"},
        {"msgtype": "m.text"},
        {"msgtype": "m.text", "body": 42},
        {"msgtype": "nl.unknown", "body": "x"},
        {"body": "geen msgtype"},
        {"msgtype": "m.text", "body": "* edit", "m.relates_to": {"rel_type": "m.replace", "event_id": "$a"}},
        {"msgtype": "m.text", "body": "* edit", "m.new_content": {"body": "edit"}},
        "not a mapping",
    ],
)
def test_odd_or_foreign_messages_are_ignored(content: Any) -> None:
    assert message(content) is None


def test_events_missing_basic_fields_are_ignored() -> None:
    assert events.basics({"type": "m.room.message", "content": {}}) is None
    assert events.basics(raw("m.room.message", {}, origin_server_ts="gisteren")) is None


def test_rich_reply_fallback_is_stripped() -> None:
    msg = message(
        {
            "msgtype": "m.text",
            "body": "> <@a:localhost> eerste regel\n> tweede regel\n\nmijn antwoord\n> geen fallback",
            "m.relates_to": {"m.in_reply_to": {"event_id": "$vraag"}},
        }
    )
    assert msg is not None
    assert msg.body == "mijn antwoord\n> geen fallback"
    assert msg.reply_to == "$vraag"


def test_quote_without_reply_is_kept() -> None:
    msg = message({"msgtype": "m.text", "body": "> citaat\n\nmijn tekst"})
    assert msg is not None and msg.body == "> citaat\n\nmijn tekst"
    assert events.strip_reply_fallback("> alleen een citaat") == "> alleen een citaat"


def test_thread_message_with_fallback_reply_is_not_a_reply() -> None:
    msg = message(
        {
            "msgtype": "m.text",
            "body": "in de draad",
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": "$root",
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": "$root"},
            },
        }
    )
    assert msg is not None and msg.thread_root == "$root" and msg.reply_to is None

    explicit = message(
        {
            "msgtype": "m.text",
            "body": "antwoord op iemand",
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": "$root",
                "m.in_reply_to": {"event_id": "$b"},
            },
        }
    )
    assert explicit is not None and explicit.thread_root == "$root" and explicit.reply_to == "$b"


def test_reaction_and_redaction() -> None:
    ev = events.basics(
        raw("m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$m", "key": "👍"}})
    )
    assert ev is not None
    reaction = events.to_reaction(ROOM, ev)
    assert reaction is not None and (reaction.target_event_id, reaction.key) == ("$m", "👍")

    bad = events.basics(raw("m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$m"}}))
    assert bad is not None and events.to_reaction(ROOM, bad) is None

    v11 = raw("m.room.redaction", {"redacts": "$r"}, event_id="$red")
    old = raw("m.room.redaction", {}, event_id="$red", redacts="$r")
    for source in (v11, old):
        ev = events.basics(source)
        assert ev is not None
        removal = events.to_redaction(source, ev)
        assert removal is not None and removal.redacts == "$r"


def member_event(
    state_key: str, membership: str, prev: str | None = None, sender: str | None = None
) -> dict[str, Any]:
    extra: dict[str, Any] = {"state_key": state_key, "sender": sender or state_key}
    if prev is not None:
        extra["unsigned"] = {"prev_content": {"membership": prev}}
    return raw("m.room.member", {"membership": membership}, **extra)


def test_member_joined_only_for_real_joins() -> None:
    def joined(source: dict[str, Any]) -> Any:
        ev = events.basics(source)
        assert ev is not None
        return events.to_member_joined(ROOM, source, ev)

    assert joined(member_event("@nieuw:localhost", "join")) is not None
    assert joined(member_event("@nieuw:localhost", "join", prev="invite")) is not None
    assert joined(member_event("@nieuw:localhost", "join", prev="join")) is None  # a profile change
    assert joined(member_event("@nieuw:localhost", "leave", prev="join")) is None


def test_history_before_the_bots_arrival_is_cut_off() -> None:
    timeline = [
        raw("m.room.message", {"msgtype": "m.text", "body": "oud"}, event_id="$old"),
        member_event(BOT, "invite", sender="@lid:localhost"),
        raw("m.room.message", {"msgtype": "m.text", "body": "na de uitnodiging"}, event_id="$new"),
        member_event(BOT, "join", prev="invite"),
        member_event(BOT, "join", prev="join"),  # a display name change is no arrival
    ]
    start = events.history_start(timeline, BOT)
    assert timeline[start]["event_id"] == "$new"
    assert events.history_start(timeline[2:], BOT) == 0


def test_creator_power_by_room_version() -> None:
    assert events.creators_have_power("12") and events.creators_have_power("org.matrix.hydra.11")
    assert not events.creators_have_power("11") and not events.creators_have_power("org.matrix.msc3757.11")
    found = events.creators_of(raw("m.room.create", {"room_version": "12", "additional_creators": ["@b:x"]}))
    assert found == ("12", frozenset({"@lid:localhost", "@b:x"}))


def test_message_content_always_states_mentions() -> None:
    content = sending.message_content(OutgoingMessage(room_id=ROOM, plain="hoi"))
    assert content == {"msgtype": "m.notice", "body": "hoi", "m.mentions": {"user_ids": []}}

    rich = sending.message_content(
        OutgoingMessage(
            room_id=ROOM,
            plain="hoi Anna",
            html="<p>hoi Anna</p>",
            mentions=[UserId("@anna:localhost"), UserId("@anna:localhost")],
            notice=False,
            reply_to=EventId("$v"),
        )
    )
    assert rich["msgtype"] == "m.text"
    assert rich["format"] == "org.matrix.custom.html" and rich["formatted_body"] == "<p>hoi Anna</p>"
    assert rich["m.mentions"] == {"user_ids": ["@anna:localhost"]}
    assert rich["m.relates_to"] == {"m.in_reply_to": {"event_id": "$v"}}


def test_thread_relation_falls_back_to_the_root_unless_replying() -> None:
    assert sending.relation(EventId("$root"), None) == {
        "rel_type": "m.thread",
        "event_id": "$root",
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": "$root"},
    }
    relation = sending.relation(EventId("$root"), EventId("$b"))
    assert relation is not None
    assert relation["is_falling_back"] is False and relation["m.in_reply_to"] == {"event_id": "$b"}


def test_file_content() -> None:
    upload = Upload(room_id=ROOM, data=b"BEGIN:VCALENDAR", filename="a.ics", content_type="text/calendar")
    content = sending.file_content(upload, "mxc://localhost/abc")
    assert content["msgtype"] == "m.file" and content["url"] == "mxc://localhost/abc"
    assert content["info"] == {"mimetype": "text/calendar", "size": 15}
    image = Upload(room_id=ROOM, data=b"png", filename="b.png", content_type="image/png")
    assert sending.file_content(image, "mxc://localhost/b")["msgtype"] == "m.image"
