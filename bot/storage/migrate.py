"""Schema migrations: Alembic is the only way the schema changes; the bot migrates at start.

Every feature owns its tables. A feature (or a plugin named in ``config.plugins``) that
has tables has a ``migrations`` package next to its models; that package's
``__init__.py`` declares them::

    SCHEMA = FeatureSchema(name="events", models="commands.events.models", versions=Path(__file__).parent)

and its revision files live beside it. The core's tables are declared here
(:data:`CORE_SCHEMA`, revisions in ``bot/storage/migrations/versions``). One Alembic
environment (``bot/storage/migrations/env.py``) runs them all, with one version location
per schema, configured in code: there is no ``alembic.ini``.

History. Until features owned their schema every revision lived in one folder and the
chain was linear across features: core, introductions, buddy and questions, casus,
digest and stats, events, introductions again. Those files moved into the packages of
the features whose tables they create (one that creates the tables of two features lives
with the first of them: buddy's holds the questions tables, digest's the stats tables),
with their revision ids and ``down_revision`` links unchanged. A database at the end of
that chain (:data:`SHARED_HISTORY_HEAD`) is therefore still at head and migrates nothing.
Cutting the chain into per-feature branches instead would change what a stored
``alembic_version`` row means: a database at the old head would then count as having
only the revisions below that one row, and would try to create the other features'
tables a second time.

New revisions do branch. A feature's first revision of its own is a new base with the
feature's name as branch label and ``depends_on`` :data:`SHARED_HISTORY_HEAD`: it runs
after every table of the shared history exists (a plugin's table may refer to them), yet
its row in ``alembic_version`` stands beside the others instead of replacing one. Later
revisions of the feature follow ``<name>@head`` (``run_bot.py revision <feature>``
writes them). The database holds one row per head and :func:`migrate` goes to all heads.

Which schemas take part: the core and every module of ``FEATURE_MODULES`` always, since
the shared history runs through their folders (their tables exist in every database),
plus the plugins the bot loads. A database whose ``alembic_version`` names a revision no
loaded schema has (a plugin taken out of ``config.plugins``, or a newer bot's database)
is refused with :class:`SchemaError` rather than run on a schema the bot does not know.
"""

from __future__ import annotations

import importlib
import logging
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import KennisbrugError
from bot.storage import schema_fingerprint
from bot.storage.database import Database
from bot.storage.models import Base

if TYPE_CHECKING:
    # Alembic itself is imported where a migration runs: a start whose schema is
    # unchanged needs none of it (schema_fingerprint).
    from alembic.config import Config as AlembicConfig
    from alembic.script import Script, ScriptDirectory
    from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The last revision of the linear history every database shares; see the module docstring.
SHARED_HISTORY_HEAD = "3b7e5d2c91f4"
VERSION_TABLE = "alembic_version"


class SchemaError(KennisbrugError):
    """A feature's schema declaration is missing, malformed or clashes with another."""


@dataclass(frozen=True)
class FeatureSchema:
    """The tables a feature owns: the module defining their models, the folder of their revisions.

    ``name`` is the feature's branch label and what ``run_bot.py revision`` is given.
    """

    name: str
    models: str
    versions: Path


CORE_SCHEMA = FeatureSchema(name="core", models="bot.storage.models", versions=MIGRATIONS_DIR / "versions")


def declared_schema(module_name: str) -> FeatureSchema | None:
    """The ``SCHEMA`` of ``<module_name>.migrations``, or None for a feature without tables."""
    package = f"{module_name}.migrations"
    try:
        module = importlib.import_module(package)
    except ModuleNotFoundError as exc:
        if exc.name != package:
            raise
        return None
    schema = getattr(module, "SCHEMA", None)
    if not isinstance(schema, FeatureSchema):
        raise SchemaError(f"{package} must declare SCHEMA = FeatureSchema(...)")
    return schema


def _builtin_features() -> tuple[str, ...]:
    # bot.app imports this module; the list of built-in features is its business.
    from bot.app import FEATURE_MODULES

    return FEATURE_MODULES


def feature_schemas(features: Iterable[str] = ()) -> list[FeatureSchema]:
    """The core's schema, the built-in features' and those of ``features`` (e.g. plugins)."""
    schemas = [CORE_SCHEMA]
    seen_modules: set[str] = set()
    for module_name in (*_builtin_features(), *features):
        if module_name in seen_modules:
            continue
        seen_modules.add(module_name)
        schema = declared_schema(module_name)
        if schema is None:
            continue
        for other in schemas:
            if other.name == schema.name:
                raise SchemaError(f"{module_name}: schema name {schema.name!r} is already taken")
            if other.versions.resolve() == schema.versions.resolve():
                raise SchemaError(f"{module_name}: {schema.versions} is already {other.name!r}'s folder")
        schemas.append(schema)
    return schemas


def import_models(schemas: Iterable[FeatureSchema]) -> None:
    """Import the models of ``schemas`` so their tables are in the shared metadata."""
    for schema in schemas:
        importlib.import_module(schema.models)


def import_all_models(features: Iterable[str] = ()) -> None:
    """Import the models of the core, the built-in features and ``features``."""
    import_models(feature_schemas(features))


def tables_of(schema: FeatureSchema) -> set[str]:
    """Names of the tables whose models ``schema.models`` defines."""
    importlib.import_module(schema.models)
    return {
        mapper.local_table.name
        for mapper in Base.registry.mappers
        if mapper.class_.__module__ == schema.models and hasattr(mapper.local_table, "name")
    }


def alembic_config(schemas: Sequence[FeatureSchema] | None = None) -> AlembicConfig:
    """Alembic's configuration in code: the shared environment, one version folder per schema."""
    from alembic.config import Config as AlembicConfig

    schemas = feature_schemas() if schemas is None else schemas
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Newlines cannot occur in a folder name; spaces and colons can. '%' would be
    # taken for interpolation by the config parser.
    cfg.set_main_option("path_separator", "newline")
    cfg.set_main_option("version_locations", "\n".join(str(s.versions).replace("%", "%%") for s in schemas))
    cfg.attributes["schemas"] = list(schemas)
    return cfg


def _lower_revisions(script: Script) -> tuple[str, ...]:
    """The revisions ``script`` follows: its down revisions and its dependencies."""
    found: list[str] = []
    for value in (script.down_revision, script.dependencies):
        if isinstance(value, str):
            found.append(value)
        elif value:
            found.extend(value)
    return tuple(found)


def head_revisions(features: Iterable[str] = ()) -> tuple[str, ...]:
    """The rows ``alembic_version`` holds once everything is applied.

    Those are the heads no other head depends on: Alembic drops the row of a revision
    once one that ``depends_on`` it is applied (as :data:`SHARED_HISTORY_HEAD` after
    a feature's first revision of its own).
    """
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(feature_schemas(features)))
    heads = set(script.get_heads())
    below: set[str] = set()
    pending = [rev for rev in script.get_revisions(tuple(heads)) if rev is not None]
    while pending:
        for lower in _lower_revisions(pending.pop()):
            if lower not in below:
                below.add(lower)
                found = script.get_revision(lower)
                if found is not None:
                    pending.append(found)
    return tuple(sorted(heads - below))


def _describe(heads: Iterable[str]) -> str | None:
    ordered = sorted(heads)
    return "+".join(ordered) if ordered else None


def _heads(connection: Connection) -> tuple[str, ...]:
    from alembic.runtime.migration import MigrationContext

    return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))


async def current_heads(db: Database) -> tuple[str, ...]:
    async with db.engine.connect() as conn:
        return await conn.run_sync(_heads)


async def current_revision(db: Database) -> str | None:
    """The database's heads as one text (``a+b`` when there are several), None when empty."""
    return _describe(await current_heads(db))


def _unknown_heads(connection: Connection, script: ScriptDirectory) -> list[str]:
    from alembic.script.revision import ResolutionError

    unknown = []
    for head in _heads(connection):
        try:
            script.revision_map.get_revision(head)
        except ResolutionError:
            unknown.append(head)
    return unknown


def _upgrade(connection: Connection, cfg: AlembicConfig) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    cfg.attributes["connection"] = connection
    unknown = _unknown_heads(connection, ScriptDirectory.from_config(cfg))
    if unknown:
        # Going on would run a bot on a schema it does not know (a newer bot's, or one
        # whose plugin is gone and whose rows still refer to it).
        raise SchemaError(
            f"the database is at revision(s) {', '.join(unknown)}, which no loaded feature provides: "
            "a plugin removed from config.plugins (put it back) or a database of a newer version "
            "of the bot"
        )
    command.upgrade(cfg, "heads")


async def migrate(db: Database, features: Iterable[str] = ()) -> tuple[str | None, str | None]:
    """Bring the database to the newest schema; returns (before, after) revisions.

    ``features`` are the loaded feature modules (``FEATURE_MODULES`` and
    ``config.plugins``); the core and the built-in features take part whatever it holds.
    Nothing runs when the revision files and the database's revisions are those the last
    migration left (:mod:`bot.storage.schema_fingerprint`).
    """
    schemas = feature_schemas(features)
    print_ = schema_fingerprint.fingerprint(schemas)
    unchanged = await schema_fingerprint.up_to_date(db, print_, VERSION_TABLE)
    if unchanged is not None:
        log.debug("database schema unchanged since the last migration; nothing to migrate")
        return _describe(unchanged), _describe(unchanged)
    before = await current_revision(db)
    cfg = alembic_config(schemas)
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade, cfg)
    heads = await current_heads(db)
    after = _describe(heads)
    await schema_fingerprint.remember(db, print_, heads)
    if before != after:
        log.info("database migrated from %s to %s", before or "empty", after)
    return before, after


def find_schema(schemas: Iterable[FeatureSchema], feature: str) -> FeatureSchema:
    """The schema named ``feature``, or that of the module ``feature``."""
    schemas = list(schemas)
    for schema in schemas:
        if feature == schema.name:
            return schema
    module_schema = declared_schema(feature) if "." in feature else None
    if module_schema is not None and module_schema in schemas:
        return module_schema
    names = ", ".join(s.name for s in schemas)
    raise SchemaError(f"no feature {feature!r} with tables; known: {names}")


def _revise(connection: Connection, cfg: AlembicConfig, schema: FeatureSchema, message: str) -> list[Path]:
    from alembic import command
    from alembic.script import Script, ScriptDirectory

    cfg.attributes["connection"] = connection
    cfg.attributes["include_tables"] = tables_of(schema)
    script = ScriptDirectory.from_config(cfg)
    own_branch = any(schema.name in rev.branch_labels for rev in script.walk_revisions())
    if own_branch:
        written = command.revision(
            cfg, message, autogenerate=True, head=f"{schema.name}@head", version_path=str(schema.versions)
        )
    else:
        written = command.revision(
            cfg,
            message,
            autogenerate=True,
            head="base",
            branch_label=schema.name,
            depends_on=SHARED_HISTORY_HEAD,
            version_path=str(schema.versions),
        )
    scripts = written if isinstance(written, list) else [written]
    return [Path(s.path) for s in scripts if isinstance(s, Script)]


async def new_revision(feature: str, message: str, features: Iterable[str] = ()) -> list[Path]:
    """Write a revision for ``feature``'s model changes into its migrations folder.

    Autogenerate compares the feature's models with a temporary SQLite database brought
    to every head, and only the feature's own tables. Returns the files written.
    """
    if "." in feature:  # a module: a plugin may be named without a config naming it
        features = (*features, feature)
    schemas = feature_schemas(features)
    schema = find_schema(schemas, feature)
    schema.versions.mkdir(parents=True, exist_ok=True)
    import_models(schemas)
    with tempfile.TemporaryDirectory(prefix="kennisbrug-revision-") as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'head.db'}")
        try:
            await migrate(db, features)
            cfg = alembic_config(schemas)
            async with db.engine.begin() as conn:
                return await conn.run_sync(_revise, cfg, schema, message)
        finally:
            await db.dispose()
