"""Packaging: everything else is in pyproject.toml.

The wheel carries the default content of ``config/`` (the professions list, the casus
library, the example config) as the package ``bot.defaults``, so an installed bot runs
outside the repository. ``config/`` stays where it is, the source of truth; only this
mapping, which pyproject.toml cannot express next to package discovery, lives here.
"""

from setuptools import find_namespace_packages, setup

DEFAULTS = {"bot.defaults": "config", "bot.defaults.casus": "config/casus"}

setup(
    packages=find_namespace_packages(include=["bot*", "commands*"]) + list(DEFAULTS),
    package_dir=DEFAULTS,
)
