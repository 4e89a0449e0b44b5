"""Where the default content lives: in the repository, or inside the installed package.

A checkout (and the editable install the Makefile makes) reads ``config/`` in the
repository, the source of truth. A wheel carries the same files as ``bot/defaults``
(mapped in setup.py), so ``pip install kennisbrug`` runs anywhere. Configs name the
defaults as ``config/...`` (the example does); such a relative path that is not next
to the config file resolves to the same file in whichever of the two is present.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_CONFIG_DIR = PACKAGE_DIR.parent / "config"
INSTALLED_DEFAULTS_DIR = PACKAGE_DIR / "defaults"


def defaults_dir() -> Path:
    """The folder holding professions.yaml, casus/ and example.yaml."""
    if INSTALLED_DEFAULTS_DIR.is_dir():
        return INSTALLED_DEFAULTS_DIR
    return REPO_CONFIG_DIR


def bundled(path: str | Path) -> Path:
    """A relative ``config/...`` path as shipped default; any other relative path from the project."""
    relative = Path(path)
    if relative.parts[:1] == ("config",):
        return defaults_dir().joinpath(*relative.parts[1:])
    return PACKAGE_DIR.parent / relative


def example_config() -> Path:
    return defaults_dir() / "example.yaml"
