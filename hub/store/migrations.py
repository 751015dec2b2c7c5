"""Forward-only schema migrations, applied under a lock so several hubs can start at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, inspect, select, text

from hub.store import migration_v2, migration_v3, migration_v4, migration_v5
from hub.store.engine import StoreError
from hub.store.schema import metadata, schema_migrations

# Any fixed number: every hub process on one PostgreSQL takes the same advisory lock.
_MIGRATION_LOCK_KEY = 727_212


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step; ``apply`` runs inside the migration transaction."""

    version: int
    name: str
    apply: Callable[[Connection], None]


def _initial_schema(conn: Connection) -> None:
    metadata.create_all(conn, checkfirst=True)
    if conn.dialect.name == "postgresql":
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        # A generated geometry column keeps GeoJSON the single source of truth while giving
        # PostGIS a GiST-indexed geometry for spatial filters.
        conn.execute(
            text(
                "ALTER TABLE locations ADD COLUMN IF NOT EXISTS geom geometry(Geometry, 4326) "
                "GENERATED ALWAYS AS (ST_SetSRID(ST_GeomFromGeoJSON(location::text), 4326)) STORED"
            )
        )
        conn.execute(
            text("CREATE INDEX IF NOT EXISTS ix_locations_geom ON locations USING GIST (geom)")
        )
        conn.execute(
            text(
                "ALTER TABLE features_of_interest ADD COLUMN IF NOT EXISTS geom "
                "geometry(Geometry, 4326) GENERATED ALWAYS AS "
                "(ST_SetSRID(ST_GeomFromGeoJSON(feature::text), 4326)) STORED"
            )
        )
        conn.execute(
            text("CREATE INDEX IF NOT EXISTS ix_foi_geom ON features_of_interest USING GIST (geom)")
        )


# Step 1 creates every table of ``metadata`` (today's shape), so later steps only upgrade
# databases made by older hubs and must be idempotent on a fresh one.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _initial_schema),
    Migration(2, "sensorthings writes", migration_v2.apply),
    Migration(3, "users", migration_v3.apply),
    Migration(4, "stream features", migration_v4.apply),
    Migration(5, "provenance log", migration_v5.apply),
)

LATEST_VERSION = MIGRATIONS[-1].version


def current_version(conn: Connection) -> int:
    """The highest applied migration, 0 for an empty database."""
    if not inspect(conn).has_table("schema_migrations"):
        return 0
    versions = conn.execute(select(schema_migrations.c.version)).scalars().all()
    return max(versions, default=0)


def migrate(engine: Engine) -> int:
    """Bring the schema up to :data:`LATEST_VERSION`; return the version now in force."""
    with engine.execution_options(sqlite_immediate=True).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        version = current_version(conn)
        if version > LATEST_VERSION:
            raise StoreError(
                f"database schema version {version} is newer than this hub ({LATEST_VERSION}): "
                "upgrade the hub"
            )
        schema_migrations.create(conn, checkfirst=True)
        for migration in MIGRATIONS:
            if migration.version <= version:
                continue
            migration.apply(conn)
            conn.execute(
                schema_migrations.insert().values(
                    version=migration.version, name=migration.name, applied_at=datetime.now(UTC)
                )
            )
            version = migration.version
    return version
