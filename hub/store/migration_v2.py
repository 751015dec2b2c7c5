"""Schema step 2: what the SensorThings write path needs (see :func:`apply`).

Version 1 only knew entities made by the station registry and device ingest. Version 2 lets
clients of the SensorThings API create them too, and store any JSON result:

* nullable: ``things.station_id``, ``datastreams.aggregation``/``factor``, the registry ``key``
  of sensors, observed properties and features of interest, and ``observations.datastream_id``,
  ``result`` and ``result_quality``;
* new observation columns ``multi_datastream_id``, ``result_json``, ``result_quality_json``,
  ``valid_time_start``/``valid_time_end``, the CHECK ``ck_observation_stream`` (exactly one of
  the two stream ids) and the unique index ``uq_multi_observation``;
* new tables ``multi_datastreams`` and ``multi_datastream_observed_properties``;
* the observation indexes of the read path: ``ix_observations_feature_time`` (feature of
  interest, phenomenon time, id) and the partial ``ix_observations_multi_time``
  (MultiDatastream, phenomenon time, id).

The target shape is :mod:`hub.store.schema` itself, so a database upgraded here and one made
fresh by step 1 (``metadata.create_all``) are the same. Every change is made only when missing,
so the step is idempotent and a no-op on a fresh database.

PostgreSQL changes tables in place (``ALTER COLUMN … DROP NOT NULL``, ``ADD COLUMN``, ``ADD
CONSTRAINT``). SQLite can do none of that, so a table that differs is rebuilt, following
https://www.sqlite.org/lang_altertable.html §7 with one change: the migration runs inside one
transaction (several hubs may start at once; see :mod:`hub.store.migrations`), where
``PRAGMA foreign_keys=OFF`` is a no-op. Foreign keys are deferred instead, and the rows go out
to a temporary table and back into a table of the *same name*: dropping a parent table counts
its children as violations, and re-inserting the parent rows settles them before the commit
(renaming a new table into place would not, and the commit would fail).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    ForeignKeyConstraint,
    MetaData,
    Table,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import (
    AddConstraint,
    CreateColumn,
    DropTable,
    ExecutableDDLElement,
)
from sqlalchemy.sql.compiler import DDLCompiler

from hub.store.schema import (
    datastreams,
    features_of_interest,
    multi_datastream_observed_properties,
    multi_datastreams,
    observations,
    observed_properties,
    sensors,
    things,
)

# Parents before children, so that on SQLite every re-inserted row finds its parent.
UPGRADED: tuple[Table, ...] = (
    things,
    sensors,
    observed_properties,
    features_of_interest,
    datastreams,
    observations,
)
NEW_TABLES: tuple[Table, ...] = (multi_datastreams, multi_datastream_observed_properties)


class AddColumn(ExecutableDDLElement):
    """``ALTER TABLE t ADD COLUMN IF NOT EXISTS c …`` for a column of the schema (PostgreSQL)."""

    def __init__(self, table: Table, column: Column[Any]) -> None:
        self.table = table
        self.column = column


class DropNotNull(ExecutableDDLElement):
    """``ALTER TABLE t ALTER COLUMN c DROP NOT NULL`` (PostgreSQL)."""

    def __init__(self, table: Table, column: Column[Any]) -> None:
        self.table = table
        self.column = column


# Identifiers come from the schema module and are quoted by the dialect, never from input.
@compiles(AddColumn)
def _add_column(element: AddColumn, compiler: DDLCompiler, **kw: Any) -> str:
    table = compiler.preparer.format_table(element.table)
    spec = compiler.process(CreateColumn(element.column), **kw)
    return "ALTER TABLE " + table + " ADD COLUMN IF NOT EXISTS " + spec


@compiles(DropNotNull)
def _drop_not_null(element: DropNotNull, compiler: DDLCompiler, **kw: Any) -> str:
    table = compiler.preparer.format_table(element.table)
    column = compiler.preparer.format_column(element.column)
    return "ALTER TABLE " + table + " ALTER COLUMN " + column + " DROP NOT NULL"


def apply(conn: Connection) -> None:
    """Bring a version-1 database to version 2. Idempotent: a fresh database already has the
    version-2 tables and columns from ``metadata.create_all`` in step 1."""
    for table in NEW_TABLES:
        table.create(conn, checkfirst=True)
    if conn.dialect.name == "postgresql":
        for table in UPGRADED:
            _alter_postgresql(conn, table)
    else:
        conn.execute(text("PRAGMA defer_foreign_keys=ON"))  # reset by SQLite at commit
        for table in UPGRADED:
            if _sqlite_differs(conn, table):
                _rebuild_sqlite(conn, table)
    # Every index of the schema's observations table, each CREATE INDEX only when its name is
    # missing (a rebuilt SQLite table already has them all).
    for index in observations.indexes:
        index.create(conn, checkfirst=True)


def _check_names(conn: Connection, table: Table) -> set[str]:
    return {c["name"] for c in inspect(conn).get_check_constraints(table.name) if c["name"]}


# information_schema rather than the inspector: the inspector warns about the PostGIS geometry
# columns of locations and features_of_interest, which it does not know.
_PG_COLUMNS = text(
    "SELECT column_name, is_nullable FROM information_schema.columns "
    "WHERE table_schema = current_schema() AND table_name = :table"
)


def _alter_postgresql(conn: Connection, table: Table) -> None:
    existing = {
        str(name): nullable == "YES"
        for name, nullable in conn.execute(_PG_COLUMNS, {"table": table.name})
    }
    for column in table.columns:
        if column.name not in existing:
            conn.execute(AddColumn(table, column))
        elif column.nullable and not existing[column.name]:
            conn.execute(DropNotNull(table, column))
    keyed = {tuple(fk["constrained_columns"]) for fk in inspect(conn).get_foreign_keys(table.name)}
    checks = _check_names(conn, table)
    for constraint in table.constraints:
        if isinstance(constraint, ForeignKeyConstraint):
            missing = tuple(constraint.column_keys) not in keyed
        else:
            missing = isinstance(constraint, CheckConstraint) and constraint.name not in checks
        if missing:
            # isolate_from_table=False: by default AddConstraint marks the shared schema's
            # constraint as "added separately", and every later CREATE TABLE in this process
            # would silently leave it out.
            conn.execute(AddConstraint(constraint, isolate_from_table=False))


def _sqlite_differs(conn: Connection, table: Table) -> bool:
    """Whether the stored table lacks a column, a dropped NOT NULL or a named CHECK."""
    existing = {c["name"]: c for c in inspect(conn).get_columns(table.name)}
    for column in table.columns:
        found = existing.get(column.name)
        if found is None or (column.nullable and not found["nullable"]):
            return True
    wanted = {str(c.name) for c in table.constraints if isinstance(c, CheckConstraint) and c.name}
    return not wanted <= _check_names(conn, table)


def _rebuild_sqlite(conn: Connection, table: Table) -> None:
    """Give ``table`` the schema's definition, keeping its rows (and so its ids)."""
    present = {c["name"] for c in inspect(conn).get_columns(table.name)}
    kept = [column.name for column in table.columns if column.name in present]
    holding = Table(
        "v2_holding_" + table.name,
        MetaData(),
        *(Column(name, table.c[name].type) for name in kept),
        prefixes=["TEMPORARY"],
    )
    holding.create(conn)
    conn.execute(insert(holding).from_select(kept, select(*(table.c[name] for name in kept))))
    conn.execute(DropTable(table))  # its indexes go with it
    table.create(conn)  # the schema's definition, with its indexes
    conn.execute(insert(table).from_select(kept, select(*(holding.c[name] for name in kept))))
    holding.drop(conn)
