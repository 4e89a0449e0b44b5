"""Members never read a parameter's code name: every parameter has a label in both
languages, shown in errors and in the usage line."""

from __future__ import annotations

import re

from bot.app import App
from bot.errors import BadArgument, MissingArgument
from bot.help import usage
from bot.i18n import LANGUAGES
from bot.replies import error_reply


def test_every_parameter_of_every_command_has_a_label(app: App) -> None:
    catalogue = app.services.catalogue
    missing = [
        (command.name, param.name, language)
        for command in app.services.registry.commands
        for param in command.params
        for language in LANGUAGES
        if f"core.param.{param.name}" not in catalogue.keys(language)
    ]
    assert missing == []


def test_every_usage_line_shows_labels_only(app: App) -> None:
    catalogue = app.services.catalogue
    for command in app.services.registry.commands:
        for language in LANGUAGES:
            line = usage(command, catalogue, language, "!")
            assert line.startswith("!" + command.display_name(language)), line
            for param in command.params:
                # A code name with an underscore (event_id) would be an internal name.
                assert "_" not in line, line
                if param.name != catalogue.plain(language, f"core.param.{param.name}"):
                    assert not re.search(rf"[<\[]{param.name}[>\] ]", line), (line, param.name)


def test_an_error_names_the_parameter_by_its_label(app: App) -> None:
    catalogue = app.services.catalogue
    command = app.services.registry.get("afmelden")
    assert command is not None
    bad = error_reply(
        catalogue, "nl", BadArgument("core.error.bad_int", param="event_id", value="abc"), command=command
    )
    assert "`abc` is geen heel getal (bij nummer van de bijeenkomst)" in bad.plain
    assert "event_id" not in bad.plain
    missing = error_reply(
        catalogue, "en", MissingArgument("core.error.missing_argument", param="event_id"), command=command
    )
    assert "event number" in missing.plain and "event_id" not in missing.plain
