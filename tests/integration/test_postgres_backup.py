"""``backup`` and ``restore`` with PostgreSQL: pg_dump and pg_restore against a real,
throwaway server (skipped where the PostgreSQL server programs are not installed)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.backup import BackupError, backup, restore
from bot.config import load_config
from bot.install_paths import example_config
from bot.storage import Database
from bot.storage.keyvalue import load, save
from bot.storage.migrate import current_revision, head_revisions, migrate

TOOLS = [shutil.which(name) for name in ("initdb", "pg_ctl", "createdb", "pg_dump", "pg_restore")]
pytestmark = pytest.mark.skipif(not all(TOOLS), reason="PostgreSQL server and client programs")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def postgres() -> Iterator[str]:
    """A PostgreSQL server of its own; yields ``host:port``. The server refuses to run as
    root, so under root it runs as the ``postgres`` account."""
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="kb-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    data, port = folder / "data", _free_port()

    def run(*argv: str) -> None:
        subprocess.run([*as_user, *argv], check=True, capture_output=True, timeout=120)

    try:
        run("initdb", "-D", str(data), "-A", "trust", "-U", "kb", "--no-sync")
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -F"
        run("pg_ctl", "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
        for name in ("live", "restored"):
            run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "kb", name)
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, "pg_ctl", "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _config(folder: Path, url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    raw = yaml.safe_load(example_config().read_text(encoding="utf-8"))
    raw["database"]["url"] = url
    raw["matrix"]["store_path"] = str(folder / "crypto")
    path = folder / "kennisbrug.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


async def test_postgresql_is_dumped_and_restored(postgres: str, tmp_path: Path) -> None:
    live = load_config(_config(tmp_path / "live", f"postgresql+asyncpg://kb@{postgres}/live"), env={})
    db = Database(live.database.url)
    await migrate(db)
    await save(db, {"matrix.store_key": "generated-store-key-0123456789"})
    await db.dispose()
    (tmp_path / "live" / "crypto").mkdir()
    (tmp_path / "live" / "crypto" / "olm.db").write_bytes(b"not sqlite, copied as is")

    manifest = await backup(live, tmp_path / "backup")
    assert manifest.database == "postgresql" and manifest.store_key_in_database
    assert set(manifest.files) == {"database.pgdump", "crypto-store/olm.db"}

    # Not over a database that has a schema, unless forced.
    with pytest.raises(BackupError, match="PostgreSQL database"):
        await restore(live, tmp_path / "backup")

    fresh = load_config(_config(tmp_path / "fresh", f"postgresql+asyncpg://kb@{postgres}/restored"), env={})
    await restore(fresh, tmp_path / "backup")
    restored = Database(fresh.database.url)
    try:
        assert await current_revision(restored) == "+".join(sorted(head_revisions()))
        assert (await load(restored, "matrix.store_key")) == {"matrix.store_key": "generated-store-key-0123456789"}
    finally:
        await restored.dispose()
    assert (tmp_path / "fresh" / "crypto" / "olm.db").read_bytes() == b"not sqlite, copied as is"
