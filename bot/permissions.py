"""Files the bot writes hold personal data and secrets: only its own user may read them.

The database holds the access token, generated keys and every profile; the crypto store
holds the device's private keys. The command line sets a umask of 077 before anything
is created, so new files are 0600 and new folders 0700 whatever the operator's shell
said; :func:`tighten` closes files an earlier version created readable for others.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077


def restrict_umask() -> int:
    """New files 0600, new folders 0700 from now on; returns the previous umask."""
    return os.umask(PRIVATE_UMASK)


def tighten(paths: Iterable[Path]) -> list[Path]:
    """Remove group and other access from existing paths (folders: also their contents).

    Returns what was changed; a path that is missing or not ours is left alone.
    """
    changed: list[Path] = []
    for path in paths:
        if not path.exists():
            continue
        targets = [path]
        if path.is_dir():
            targets += list(path.rglob("*"))
        for target in targets:
            try:
                mode = stat.S_IMODE(target.lstat().st_mode)
                if target.is_symlink() or not mode & 0o077:
                    continue
                target.chmod(mode & 0o700)
                changed.append(target)
            except OSError as exc:
                log.warning("could not restrict access to %s: %s", target, exc)
    if changed:
        log.info("restricted access to %d file(s) readable by others (now owner only)", len(changed))
    return changed
