"""The chat's own texts, from its small catalogue (``locale/nl.yaml``, ``locale/en.yaml``).

The chat is a developer tool beside the bot, so its texts are not in the bot's
catalogue; they are read by the same loader, with the same plural forms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.i18n import LANGUAGES, Catalogue

LOCALE = Path(__file__).resolve().parent / "locale"


class Texts:
    def __init__(self, language: str = "nl") -> None:
        self.catalogue = Catalogue.load([LOCALE], default_language=language)
        self.language = language if language in LANGUAGES else "nl"

    def __call__(self, key: str, /, **params: Any) -> str:
        return self.catalogue.plain(self.language, f"chat.{key}", **params)

    def in_language(self, language: str, key: str, /, **params: Any) -> str:
        return self.catalogue.plain(language, f"chat.{key}", **params)

    def help(self) -> list[str]:
        """The chat's commands in Dutch and in English, one after the other."""
        lines: list[str] = []
        for language in LANGUAGES:
            lines.append(self.in_language(language, "help.title"))
            lines += [f"  {line}" for line in self.in_language(language, "help.lines").split("\n")]
            lines.append("")
        return lines[:-1]
