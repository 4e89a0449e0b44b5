"""``run_bot.py revision <feature>``: run in a copy of the project whose models changed, it
writes the feature's change, and nothing else, into that feature's migrations folder."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.storage.migrate import SHARED_HISTORY_HEAD, head_revisions

PROJECT = Path(__file__).resolve().parents[2]


def _copy_project(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    copy.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in ("bot", "commands", "config"):
        shutil.copytree(PROJECT / part, copy / part, ignore=ignore)
    shutil.copy(PROJECT / "run_bot.py", copy / "run_bot.py")
    return copy


def _add_line_after(path: Path, anchor: str, line: str) -> None:
    source = path.read_text()
    assert anchor in source
    path.write_text(source.replace(anchor, f"{anchor}\n{line}", 1))


def _run(copy: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "run_bot.py", *args], cwd=copy, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _field(source: str, name: str) -> str:
    match = re.search(rf"^{name}: .* = (.*)$", source, re.MULTILINE)
    assert match is not None
    return match.group(1)


def test_revision_writes_into_the_features_folder(tmp_path: Path) -> None:
    copy = _copy_project(tmp_path)
    # The digest has no revision of its own yet (only its part of the shared history).
    feature = copy / "commands" / "digest"
    before = set((feature / "migrations").iterdir())
    _add_line_after(
        feature / "models.py",
        "    enabled: Mapped[bool] = mapped_column(Boolean, default=False, index=True)",
        "    note: Mapped[str | None] = mapped_column(String(50))",
    )
    # A change in another feature's models at the same time stays out of the digest's revision.
    _add_line_after(
        copy / "bot" / "storage" / "models.py",
        "    language: Mapped[str | None] = mapped_column(String(8))",
        "    nickname: Mapped[str | None] = mapped_column(String(40))",
    )
    out = _run(copy, "revision", "digest", "-m", "reminder note")

    (first,) = set((feature / "migrations").iterdir()) - before
    assert f"wrote {first}" in out
    source = first.read_text()
    assert "add_column(sa.Column('note', sa.String(length=50)" in source
    assert "nickname" not in source
    assert _field(source, "down_revision") == "None"
    assert _field(source, "branch_labels") == "('digest',)"
    assert _field(source, "depends_on") == repr(SHARED_HISTORY_HEAD)
    assert not list((copy / "bot" / "storage" / "migrations" / "versions").glob("*reminder_note*"))

    # The feature's next revision follows its own head.
    _add_line_after(
        feature / "models.py",
        "    note: Mapped[str | None] = mapped_column(String(50))",
        "    channel: Mapped[str | None] = mapped_column(String(20))",
    )
    _run(copy, "revision", "digest", "-m", "reminder channel")
    (second,) = set((feature / "migrations").iterdir()) - before - {first}
    first_id = _field(source, "revision").strip("'")
    assert _field(second.read_text(), "down_revision") == repr(first_id)
    assert _field(second.read_text(), "branch_labels") == "None"

    # The core's change goes into the core's folder, and the copy migrates from empty.
    _run(copy, "revision", "core", "-m", "nickname")
    (core,) = (copy / "bot" / "storage" / "migrations" / "versions").glob("*_nickname.py")
    assert "nickname" in core.read_text()
    check = (
        "import asyncio, sys;"
        "from bot.storage import Database;"
        "from bot.storage.migrate import migrate, head_revisions, current_heads;"
        "db = Database(f'sqlite+aiosqlite:///{sys.argv[1]}');"
        "asyncio.run(migrate(db));"
        "print(asyncio.run(current_heads(db)) == head_revisions(), len(head_revisions()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check, str(tmp_path / "new.db")],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # One head more than the project has: the digest's new branch (the core's revision
    # follows the core's own head).
    assert done.stdout.split() == ["True", str(len(head_revisions()) + 1)], done.stderr
    # The project itself is untouched.
    assert not list((PROJECT / "commands" / "events" / "migrations").glob("*reminder*"))


def test_revision_of_an_unknown_feature_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["revision", "privacy", "-m", "nothing"]) == 1
    err = capsys.readouterr().err
    assert "no feature 'privacy' with tables" in err and "events" in err


def test_help_names_the_revision_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "revision" in capsys.readouterr().out
