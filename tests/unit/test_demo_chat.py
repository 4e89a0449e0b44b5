"""The demo chat's pure parts: how content looks, what a room holds after edits,
reactions and threads, and what typed lines do before anything is sent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.devtools.chat.client import ChatSetup, safe_file_name, unique_file
from bot.devtools.chat.content import html_to_text, message_text, poll_text
from bot.devtools.chat.model import Room
from bot.devtools.chat.render import Renderer
from bot.devtools.chat.session import ChatSession
from bot.devtools.chat.texts import LOCALE, Texts
from bot.i18n import Catalogue, placeholders

NAMES = {"@demo:localhost": "Demo Lid", "@kennisbrug:localhost": "Kennisbrug"}


def names(user_id: str) -> str:
    return NAMES.get(user_id, user_id)


def event(
    event_id: str,
    content: dict[str, Any],
    kind: str = "m.room.message",
    sender: str = "@kennisbrug:localhost",
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "sender": sender,
        "type": kind,
        "content": content,
        "origin_server_ts": 1_000,
    }


def test_html_shows_bold_lists_headings_code_and_mentions_as_names() -> None:
    html = (
        "<mx-reply><blockquote>quoted</blockquote></mx-reply><h2>Bijeenkomst</h2>"
        '<p>Hoi <a href="https://matrix.to/#/@demo:localhost">@demo</a>, <strong>welkom</strong>: <code>!intro</code></p>'
        "<ul><li>een</li><li>twee</li></ul><ol><li>eerste</li></ol><pre><code>regel 1\nregel 2</code></pre>"
    )
    text = html_to_text(html, names)
    assert (
        text.plain
        == "Bijeenkomst\n\nHoi Demo Lid, welkom: !intro\n\n• een\n• twee\n\n1. eerste\n\nregel 1\nregel 2"
    )
    styles = {text.plain[span.start : span.end]: str(span.style) for span in text.spans}
    assert "bold" in styles["welkom"] and "bold" in styles["Bijeenkomst"] and "cyan" in styles["!intro"]
    assert "magenta" in styles["Demo Lid"]


def test_plain_body_links_become_names_and_reply_fallback_is_dropped() -> None:
    content = {
        "msgtype": "m.text",
        "body": "> <@x:localhost> eerder\n\nZie https://matrix.to/#/@demo:localhost hier",
        "m.relates_to": {"m.in_reply_to": {"event_id": "$a"}},
    }
    assert message_text(content, names).plain == "Zie Demo Lid hier"


def test_poll_shows_its_text_fallback() -> None:
    fallback = "Welke dag past?\n1. dinsdag\n2. donderdag\n(stem met !stem 1)"
    assert poll_text({"org.matrix.msc1767.text": fallback, "body": "x"}) == fallback
    assert poll_text({"m.text": [{"body": fallback}]}) == fallback
    assert poll_text({"body": fallback}) == fallback
    room = Room("!r", "Welkom", "community", 0)
    change = room.apply(event("$p", {"body": fallback}, kind="org.matrix.msc3381.poll.start"))
    assert change is not None and change.message.kind == "poll"
    shown = Renderer(Texts("nl"), names, "@demo:localhost").body(change.message).plain
    assert "Peiling" in shown and "!stem 1" in shown


def test_edits_replace_reactions_count_and_threads_sit_under_their_root() -> None:
    room = Room("!r", "Vragen", "community", 0)
    room.apply(event("$root", {"msgtype": "m.text", "body": "Vraag aan: Bedrijfsarts"}))
    room.apply(
        event(
            "$edit",
            {
                "msgtype": "m.text",
                "body": "* nieuw",
                "m.new_content": {"msgtype": "m.text", "body": "Vraag aan: BA (bewerkt)"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": "$root"},
            },
        )
    )
    # Someone else's edit of the bot's message is not an edit.
    room.apply(
        event(
            "$fake",
            {
                "msgtype": "m.text",
                "body": "*",
                "m.new_content": {"body": "gekaapt"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": "$root"},
            },
            sender="@demo:localhost",
        )
    )
    room.apply(
        event(
            "$re",
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$root", "key": "✅"}},
            kind="m.reaction",
            sender="@demo:localhost",
        )
    )
    room.apply(
        event(
            "$t1",
            {
                "msgtype": "m.text",
                "body": "Mijn antwoord",
                "m.relates_to": {
                    "rel_type": "m.thread",
                    "event_id": "$root",
                    "is_falling_back": True,
                    "m.in_reply_to": {"event_id": "$root"},
                },
            },
            sender="@demo:localhost",
        )
    )
    root = room.by_id["$root"]
    assert root.content["body"] == "Vraag aan: BA (bewerkt)" and root.edited
    assert root.reactions == {"✅": {"@demo:localhost"}}
    assert [m.number for m in room.messages] == [1, 2]  # an edit and a reaction are no messages
    assert room.by_id["$t1"].reply_to is None  # the thread's reply fallback is no reply
    screen = "\n".join(t.plain for t in Renderer(Texts("nl"), names, "@demo:localhost").room(room))
    assert re.search(
        r"#1 Kennisbrug .*\n  Vraag aan: BA \(bewerkt\)\n  ✅ 1  \(bewerkt\)\n  │ 1 antwoord in de draad — /draad 1\n  │ #2 jij",
        screen,
    ), screen
    room.apply(event("$undo", {"redacts": "$re"}, kind="m.room.redaction", sender="@demo:localhost"))
    assert root.reactions == {}


def _session(tmp_path: Path) -> tuple[ChatSession, list[tuple[str, str, str | None]]]:
    setup = ChatSetup("http://127.0.0.1:9", "@demo:localhost", "pw", "@kennisbrug:localhost", [], tmp_path)
    session = ChatSession(setup, lambda room: None)
    sent: list[tuple[str, str, str | None]] = []

    async def send_text(room_id: str, text: str, thread_root: str | None = None) -> None:
        sent.append((room_id, text, thread_root))

    session.client.send_text = send_text  # type: ignore[method-assign]
    return session, sent


async def test_nothing_is_sent_while_the_target_is_unclear(tmp_path: Path) -> None:
    session, sent = _session(tmp_path)
    assert await session.submit("mijn antwoord") is False  # stays typed
    assert sent == [] and "niets verstuurd" in session.loose[-1]
    await session.submit("/dm")  # no direct chat known: no switch to another room
    assert session.current is None and "nog geen privégesprek" in session.loose[-1]
    await session.client.close()


async def test_unknown_commands_are_answered_dm_commands_offered(tmp_path: Path) -> None:
    session, sent = _session(tmp_path)
    client = session.client
    client.rooms["!welkom"] = Room("!welkom", "Welkom", "community", 0)
    client.rooms["!dm"] = Room("!dm", "Privé met kennisbrug", "dm", 500)
    client.ready, client.dm_id, session.current = True, "!dm", "!welkom"
    assert await session.submit("/bestaatniet") is True
    assert sent == [] and "/bestaatniet ken ik niet" in client.rooms["!welkom"].messages[-1].lines[0]
    await session.submit("!instellingen")
    assert sent == [] and "hoort in je privégesprek" in client.rooms["!welkom"].messages[-1].lines[0]
    await session.submit("/ja")
    assert sent == [("!dm", "!instellingen", None)] and session.current == "!dm"
    await session.submit("hallo")
    assert sent[-1] == ("!dm", "hallo", None)
    await client.close()


def test_the_chats_catalogue_has_both_languages_and_every_key_used() -> None:
    catalogue = Catalogue.load([LOCALE])
    nl, en = catalogue.keys("nl"), catalogue.keys("en")
    assert nl and nl == en
    assert all(
        placeholders(catalogue.template("nl", k)) == placeholders(catalogue.template("en", k)) for k in nl
    )
    sources = "".join(p.read_text(encoding="utf-8") for p in (LOCALE.parent).glob("*.py"))
    used = set(re.findall(r'texts\(\s*"([a-z_.]+)"', sources)) | set(
        re.findall(r'\bt\(\s*"([a-z_.]+)"', sources)
    )
    assert len(used) > 20
    missing = sorted(k for k in used if f"chat.{k}" not in nl)
    assert missing == []


@pytest.mark.parametrize("language", ["nl", "en"])
def test_help_lists_the_commands_in_both_languages(language: str) -> None:
    lines = "\n".join(Texts(language).help())
    assert "Commando's van deze chat" in lines and "This chat's commands" in lines
    for command in ("/dm", "/draad", "/thread", "/react", "/open", "/kamer", "/room", "/quit"):
        assert command in lines


def test_a_received_file_stays_in_the_downloads_folder(tmp_path: Path) -> None:
    for hostile in ("../../etc/passwd", "/abs/path.ics", "..", ".hidden", ""):
        name = safe_file_name(hostile)
        assert "/" not in name and not name.startswith(".") and name
        saved = unique_file(tmp_path / "downloads", name, b"x")
        assert saved.parent == tmp_path / "downloads"
    first = unique_file(tmp_path / "downloads", "bijeenkomst-1.ics", b"A")
    assert unique_file(tmp_path / "downloads", "bijeenkomst-1.ics", b"A") == first  # the same file once
    other = unique_file(tmp_path / "downloads", "bijeenkomst-1.ics", b"B")
    assert other.name == "bijeenkomst-1-2.ics" and first.read_bytes() == b"A"
