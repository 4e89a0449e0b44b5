"""Loading the crypto store's device list: nio's own store against bot/matrix/crypto_store.py.

A bot with N members knows at least N devices; both stores read the same SQLite file
(nio's crypto store on disk, every 10th device verified) and must give the same result.
Prints the load time of each per N and the ratio.

    .venv/bin/python bench/device_store.py [--sizes 1000,5000,20000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nio.crypto import OlmAccount, OlmDevice  # noqa: E402
from nio.store.database import DefaultStore  # noqa: E402

from bot.matrix.crypto_store import CryptoStore  # noqa: E402

OWN = "@kennisbrug:localhost"


def fill(path: Path, size: int) -> None:
    store = DefaultStore(OWN, "BOT", str(path), pickle_key="bench")
    store.save_account(OlmAccount())
    devices = {
        f"@lid{i:06d}:localhost": {
            f"D{i:06d}": OlmDevice(
                f"@lid{i:06d}:localhost", f"D{i:06d}", {"ed25519": f"e{i}", "curve25519": f"c{i}"}
            )
        }
        for i in range(size)
    }
    store.save_device_keys(devices)
    for i in range(0, size, 10):
        store.verify_device(devices[f"@lid{i:06d}:localhost"][f"D{i:06d}"])


def timed(kind: type[DefaultStore], path: Path) -> tuple[float, list[tuple[str, str, object]]]:
    store = kind(OWN, "BOT", str(path), pickle_key="bench")
    started = time.perf_counter()
    loaded = store.load_device_keys()
    took = time.perf_counter() - started
    return took, sorted((d.user_id, d.id, d.trust_state) for d in loaded)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,5000,20000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    print(f"{'devices':>8} {'nio store (s)':>14} {'ours (s)':>9} {'ratio':>7}")
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            fill(Path(tmp), size)
            theirs, a = timed(DefaultStore, Path(tmp))
            ours, b = timed(CryptoStore, Path(tmp))
            assert a == b, "the two stores loaded different devices"
            print(f"{size:>8,} {theirs:>14.3f} {ours:>9.3f} {theirs / ours:>7.1f}", flush=True)


if __name__ == "__main__":
    main()
