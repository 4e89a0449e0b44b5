"""Member text can never add markup, links or room pings to the bot's messages."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bot.formatting import Markup, fragment, render


def test_html_in_values_is_inert() -> None:
    out = render("Hallo **{name}**", {"name": "<img src=x onerror=alert(1)><script>x</script>"})
    assert "<img" not in out.html and "<script" not in out.html
    assert "&lt;img" in out.html
    assert out.plain == "Hallo **<img src=x onerror=alert(1)><script>x</script>**"


def test_values_in_code_spans_show_as_typed() -> None:
    out = render("Gebruik `{usage}`", {"usage": "!help [onderwerp] *x*"})
    assert "<code>!help [onderwerp] *x*</code>" in out.html


def test_markdown_in_values_is_not_interpreted() -> None:
    out = render("{a}", {"a": "[klik](javascript:alert(1)) **vet**"})
    assert "<a" not in out.html and "<strong>" not in out.html


def test_room_ping_is_defused() -> None:
    out = render("{a}", {"a": "@room kijk"})
    assert "@room" not in out.plain and "@room" not in out.html


def test_javascript_links_in_templates_are_dropped() -> None:
    assert "javascript" not in render("[x](javascript:alert(1))").html


def test_fragments_nest() -> None:
    items = Markup.join([fragment("- {x}", {"x": "<b>een</b>"}), fragment("- {x}", {"x": "twee"})])
    out = render("Lijst:\n\n{items}", {"items": items})
    assert "<li>&lt;b&gt;een&lt;/b&gt;</li>" in out.html


@given(st.text(max_size=200))
def test_no_member_text_becomes_a_tag(text: str) -> None:
    out = render("**{v}** `{v}` [link](https://example.org) {v}", {"v": text})
    tags = set(re.findall(r"</?([a-zA-Z0-9]+)", out.html))
    assert tags <= {"p", "strong", "code", "a", "br"}
