"""``pip install`` of the built wheel gives a ``kennisbrug`` command that runs outside the
repository: the default content, the catalogues and the migrations come with it.

The wheel is built from the files the Dockerfile copies, and installed the way the
Dockerfile installs it (the runtime dependencies, constrained to requirements.lock)
into a fresh virtual environment; uv's cache makes that take seconds, not minutes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).with_name("uv")
# What the Dockerfile's build stage copies.
SOURCES = ("pyproject.toml", "setup.py", "README.md", "bot", "commands", "config")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not UV.exists(), reason="uv is installed in .venv by the Makefile"),
]


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    return done


def test_the_wheel_installs_and_runs_outside_the_repository(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in SOURCES:
        origin = PROJECT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, source / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    _run([str(UV), "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(source)], tmp_path, env)
    wheels = list((tmp_path / "dist").glob("kennisbrug-*.whl"))
    assert len(wheels) == 1
    venv = tmp_path / "venv"
    _run([str(UV), "venv", "--quiet", "--python", sys.executable, str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    _run(
        [str(UV), "pip", "install", "--quiet", "--python", str(python),
         "--constraint", str(PROJECT / "requirements.lock"), str(wheels[0])],
        tmp_path, env,
    )  # fmt: skip
    kennisbrug = str(venv / "bin" / "kennisbrug")
    work = tmp_path / "operator"
    work.mkdir()

    where = _run([str(python), "-c", "import bot; print(bot.__file__)"], work, env).stdout.strip()
    assert where.startswith(str(venv)), where

    help_text = _run([kennisbrug, "--help"], work, env).stdout
    assert help_text.startswith("usage: kennisbrug")
    for verb in ("run", "demo", "check-config", "migrate", "health", "init", "backup", "restore"):
        assert f"    {verb} " in help_text or f"    {verb}\n" in help_text, verb

    raw = yaml.safe_load((PROJECT / "config" / "example.yaml").read_text(encoding="utf-8"))
    raw["database"]["url"] = f"sqlite+aiosqlite:///{work / 'kennisbrug.db'}"
    (work / "kennisbrug.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    checked = _run([kennisbrug, "check-config", "--config", "kennisbrug.yaml"], work, env)
    assert "kennisbrug.yaml: OK" in checked.stdout
    migrated = _run([kennisbrug, "migrate", "--config", "kennisbrug.yaml"], work, env)
    assert "empty ->" in migrated.stdout
    _run([kennisbrug, "backup", "backup", "--config", "kennisbrug.yaml"], work, env)
    assert (work / "backup" / "manifest.json").is_file()
    written = _run(
        [kennisbrug, "init", "--non-interactive", "--config", "new.yaml", "--homeserver", "https://m.example.org",
         "--user-id", "@kennisbrug:example.org", "--admin", "@alice:example.org"],
        work, {**env, "KENNISBRUG_MATRIX_PASSWORD": "from-the-environment"},
    )  # fmt: skip
    assert "new.yaml: OK" in written.stdout
