"""The README's first command: the demo starts a homeserver and the bot, and answers !help
(with input piped in, so the chat runs line by line; tests/integration/test_demo_chat.py
uses the screen in tmux)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).resolve().parents[2]


def test_demo_answers_help_and_reuses_its_data(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    command = [sys.executable, str(PROJECT / "run_bot.py"), "demo", "--data", str(data)]
    first = subprocess.run(command, input="!help\n", capture_output=True, text=True, timeout=240, cwd=PROJECT)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "Homeserver:    http://127.0.0.1:" in first.stdout
    assert "Demo member:   @demo:localhost  password " in first.stdout
    # Piped input gets the line mode: the answers as text, Markdown rendered, each line
    # naming its room. The room gets an overview, the direct chat the whole help.
    assert "[Welkom] jij: !help" in first.stdout
    assert "[Privé met kennisbrug] kennisbrug: Kennisbrug: dit kun je met mij doen." in first.stdout
    assert "**" not in first.stdout
    assert "Kennisbrug demo stopped." in first.stdout
    # A second run reuses the homeserver, the accounts and the rooms.
    second = subprocess.run(
        command, input="!taal\n", capture_output=True, text=True, timeout=240, cwd=PROJECT
    )
    assert second.returncode == 0, second.stderr[-2000:]
    assert "Ik spreek nu Nederlands met je." in second.stdout
    assert first.stdout.split("password ")[1].split()[0] == second.stdout.split("password ")[1].split()[0]
