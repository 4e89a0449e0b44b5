"""Member text can never add markup, links or room pings to the bot's messages."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from bot.app import revive_markup
from bot.formatting import Markup, fragment, markup_from_json, markup_to_json, render


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


# -- fragments stored and rendered later (a digest planned on Monday, sent later) ----

HOSTILE = "<script>x</script> **vet** [klik](javascript:alert(1)) @room\nregel twee"


def stored(markup: Markup) -> object:
    """As the database gives it back: through JSON."""
    return json.loads(json.dumps(markup_to_json(markup)))


def test_a_stored_fragment_renders_as_the_original() -> None:
    line = Markup.join([fragment("- **{title}**: {text}", {"title": "Casus 3", "text": HOSTILE})])
    revived = revive_markup({"body": stored(line), "count": 3})
    assert revived["count"] == 3
    assert render("Overzicht\n\n{body}", {"body": revived["body"]}) == render(
        "Overzicht\n\n{body}", {"body": line}
    )
    out = render("{body}", {"body": revived["body"]})
    assert "<script" not in out.html and "&lt;script&gt;" in out.html
    assert "<a" not in out.html and "<strong>vet" not in out.html and "@room" not in out.html
    assert "<strong>Casus 3</strong>" in out.html


def test_an_altered_stored_value_is_escaped_again() -> None:
    data = stored(fragment("{text}", {"text": "hallo"}))
    assert isinstance(data, dict)
    values = data["__markup__"]["values"]
    token = next(iter(values))
    values[token] = '<img src=x onerror="alert(1)">'
    values["not-a-token"] = "<b>x</b>"
    out = render("{body}", {"body": revive_markup({"body": data})["body"]})
    assert "<img" not in out.html and "&lt;img" in out.html


def test_only_stored_fragments_are_revived() -> None:
    params = {"a": {"__markup__": "x"}, "b": {"__markup__": {"markdown": 1}}, "c": {"other": 1}, "d": "t"}
    assert revive_markup(params) == params
    assert markup_from_json({"__markup__": {"markdown": "m", "plain": "p"}, "extra": 1}) is None


def test_an_empty_optional_part_leaves_one_empty_line() -> None:
    # "{lines}\n\n{missing}\n\n{footer}" with nothing missing read as three empty lines.
    rendered = render(
        "Boven\n\n{missing}\n\n{footer}\n\n{extra}", {"missing": "", "footer": "Onder", "extra": ""}
    )
    assert rendered.plain == "Boven\n\nOnder"
    assert "<br" not in rendered.html and rendered.html.count("<p>") == 2


def test_a_free_text_ending_in_line_breaks_keeps_one_empty_line_before_the_footer() -> None:
    rendered = render("{text}\n\n{footer}", {"text": "Mijn casus.\n\n\n", "footer": "Reageer in de draad."})
    assert rendered.html == "<p>Mijn casus.</p>\n<p>Reageer in de draad.</p>"
    inside = render("{text}", {"text": "Eerste alinea.\n\n\n\nTweede alinea.\nRegel twee."})
    assert inside.html.count("<br>") == 3 and "<br><br><br>" not in inside.html
