"""``kennisbrug backup`` and ``restore``: the database and the crypto store, together.

The two belong together: the database holds the bot's device id, access token and (when
none is configured) the generated crypto store key; the store holds the device's keys
and every room key the bot received. A backup is taken while the bot runs: SQLite files
(the database and nio's store, one file per device) are copied with SQLite's online
backup API, which gives a consistent snapshot however the bot writes meanwhile;
PostgreSQL is dumped with ``pg_dump``. ``manifest.json`` says when, at which schema
revision, and which files.

A restore refuses to run while a bot holds the target database (the instance lock of
:mod:`bot.storage.lock`) and, without ``force``, to overwrite a database or store that
is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bot.config import Config
from bot.errors import KennisbrugError

MANIFEST = "manifest.json"
FORMAT = 1
SQLITE_FILE = "database.sqlite3"
PG_DUMP_FILE = "database.pgdump"
STORE_DIR = "crypto-store"
_SQLITE_MAGIC = b"SQLite format 3\x00"


class BackupError(KennisbrugError):
    """A backup or restore cannot be done; the message says why, in one line."""


@dataclass(frozen=True)
class Manifest:
    created_at: str
    schema_revision: str | None
    database: str  # "sqlite" or "postgresql"
    store_key_in_database: bool
    files: dict[str, dict[str, Any]]
    format: int = FORMAT

    def as_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "created_at": self.created_at,
            "schema_revision": self.schema_revision,
            "database": self.database,
            "store_key_in_database": self.store_key_in_database,
            "files": self.files,
        }

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise BackupError(f"{path}: cannot be read ({exc.strerror}); is {folder} a backup?") from exc
        except ValueError as exc:
            raise BackupError(f"{path}: is not valid JSON") from exc
        valid = isinstance(data, dict) and data.get("format") == FORMAT
        if not valid or not isinstance(data.get("files"), dict):
            raise BackupError(f"{path}: is not a Kennisbrug backup manifest (format {FORMAT})")
        return cls(
            created_at=str(data.get("created_at")),
            schema_revision=data.get("schema_revision"),
            database=str(data.get("database")),
            store_key_in_database=bool(data.get("store_key_in_database")),
            files=data["files"],
        )


def sqlite_file(config: Config) -> Path | None:
    """The SQLite database file of the config, or ``None`` for another database."""
    url = make_url(config.database.url)
    if not url.drivername.startswith("sqlite"):
        return None
    if not url.database or url.database == ":memory:":
        raise BackupError("database.url: an in-memory database cannot be backed up")
    return Path(url.database).expanduser()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (the online backup API)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    # Read-only URI: the backup never creates or changes the source.
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    os.replace(partial, target)


def _copy_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if _is_sqlite(source):
        _sqlite_copy(source, target)
    else:
        shutil.copy2(source, target)


def _store_files(store: Path) -> list[Path]:
    """The crypto store's files, without SQLite's side files (the copy carries their content)."""
    if not store.is_dir():
        return []
    return sorted(
        p
        for p in store.rglob("*")
        if p.is_file() and not p.name.endswith(("-wal", "-shm", "-journal", ".lock", ".partial"))
    )


def _pg_url(config: Config) -> str:
    """The database URL for libpq tools (without SQLAlchemy's ``+driver``)."""
    url = make_url(config.database.url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not on PATH: install the PostgreSQL client tools (the same major version "
            f"as the server) to back up or restore a PostgreSQL database"
        )
    return found


def _run_tool(argv: Sequence[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupError(f"{Path(argv[0]).name} failed (exit {result.returncode}): {last}")


async def _schema_state(config: Config) -> tuple[str | None, bool]:
    """The schema revision and whether the crypto store key is kept in the database."""
    from bot.matrix.crypto import STORE_KEY
    from bot.storage import Database
    from bot.storage.keyvalue import load
    from bot.storage.migrate import current_revision

    db = Database(config.database.url)
    try:
        revision = await current_revision(db)
        key_in_db = bool(revision) and STORE_KEY in await load(db, STORE_KEY)
        return revision, key_in_db
    finally:
        await db.dispose()


def _target_empty(folder: Path) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise BackupError(f"{folder}: exists and is not an empty folder; back up into a new one")


async def backup(config: Config, folder: Path, *, now: datetime | None = None) -> Manifest:
    """Write a consistent copy of the database and the crypto store into ``folder``."""
    _target_empty(folder)
    created = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    db_file = sqlite_file(config)
    if db_file is not None and not db_file.is_file():
        raise BackupError(f"database.url: {db_file} does not exist; nothing to back up")
    if db_file is None:
        pg_dump = _pg_tool("pg_dump")
    revision, key_in_db = await _schema_state(config)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, Any]] = {}
    if db_file is not None:
        await asyncio.to_thread(_sqlite_copy, db_file, folder / SQLITE_FILE)
        files[SQLITE_FILE] = {"role": "database"}
    else:
        dump = folder / PG_DUMP_FILE
        await asyncio.to_thread(
            _run_tool, [pg_dump, "--format=custom", "--no-owner", f"--file={dump}", _pg_url(config)]
        )
        files[PG_DUMP_FILE] = {"role": "database"}
    store = config.matrix.store_path
    for source in _store_files(store):
        relative = Path(STORE_DIR) / source.relative_to(store)
        await asyncio.to_thread(_copy_file, source, folder / relative)
        files[relative.as_posix()] = {"role": "crypto store"}
    for name, entry in files.items():
        path = folder / name
        entry["bytes"] = path.stat().st_size
        entry["sha256"] = await asyncio.to_thread(_sha256, path)
    manifest = Manifest(
        created_at=created,
        schema_revision=revision,
        database="sqlite" if db_file is not None else "postgresql",
        store_key_in_database=key_in_db,
        files=files,
    )
    (folder / MANIFEST).write_text(json.dumps(manifest.as_json(), indent=2) + "\n", encoding="utf-8")
    return manifest


def _verify(folder: Path, manifest: Manifest) -> None:
    for name, entry in manifest.files.items():
        path = folder / name
        if not path.is_file():
            raise BackupError(f"{folder}: {name} is listed in the manifest but missing")
        if entry.get("sha256") != _sha256(path):
            raise BackupError(f"{folder}: {name} does not match its checksum in the manifest")


@contextlib.asynccontextmanager
async def _holding_the_lock(config: Config) -> AsyncIterator[None]:
    """The target database's instance lock for the whole restore: refused while a bot runs
    there, and no bot can start on a half-restored database meanwhile."""
    from bot.storage import Database
    from bot.storage.lock import AlreadyRunning, InstanceLock

    db = Database(config.database.url)
    lock = InstanceLock(db)
    try:
        try:
            await lock.acquire()
        except AlreadyRunning as exc:
            raise BackupError(f"not restoring: {exc}") from None
        try:
            yield
        finally:
            await lock.release()
    finally:
        await db.dispose()


async def restore(config: Config, folder: Path, *, force: bool = False) -> Manifest:
    """Put a backup's database and crypto store where ``config`` expects them."""
    manifest = Manifest.read(folder)
    await asyncio.to_thread(_verify, folder, manifest)
    db_file = sqlite_file(config)
    wanted = "sqlite" if db_file is not None else "postgresql"
    if manifest.database != wanted:
        raise BackupError(f"{folder}: holds a {manifest.database} database, but database.url is {wanted}")
    store = config.matrix.store_path
    async with _holding_the_lock(config):
        if not force:
            present = [str(p) for p in (db_file, store) if p is not None and _nonempty(p)]
            if db_file is None and (await _schema_state(config))[0] is not None:
                present.insert(0, "the PostgreSQL database (it has a schema)")
            if present:
                raise BackupError(
                    f"not restoring over {' and '.join(present)}: move them away first, or pass --force"
                )
        await _restore_database(config, folder, db_file)
        if store.exists() and force:
            await asyncio.to_thread(shutil.rmtree, store)
        for name, entry in manifest.files.items():
            if entry.get("role") != "crypto store":
                continue
            relative = Path(name).relative_to(STORE_DIR)
            await asyncio.to_thread(_copy_file, folder / name, store / relative)
    return manifest


async def _restore_database(config: Config, folder: Path, db_file: Path | None) -> None:
    if db_file is not None:
        for side in ("-wal", "-shm", "-journal"):
            db_file.with_name(db_file.name + side).unlink(missing_ok=True)
        await asyncio.to_thread(_sqlite_copy, folder / SQLITE_FILE, db_file)
        return
    pg_restore = _pg_tool("pg_restore")
    await asyncio.to_thread(
        _run_tool,
        [
            pg_restore,
            "--clean",
            "--if-exists",
            "--no-owner",
            f"--dbname={_pg_url(config)}",
            str(folder / PG_DUMP_FILE),
        ],
    )


def _nonempty(path: Path) -> bool:
    return path.is_file() or (path.is_dir() and any(path.iterdir()))
