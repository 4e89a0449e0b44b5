#!/usr/bin/env python3
"""Kennisbrug's command line: run, demo, check-config, migrate, revision, health. See `--help`."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main())
