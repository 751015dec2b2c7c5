"""Schema step 5: the provenance log and records (see :func:`apply`; provenance.md §5.5).

New tables ``prov_log_entries``, ``prov_log_subtrees``, ``prov_log_head`` (with its one row,
size 0), ``prov_records`` and ``prov_checkpoints``, and two nullable columns on
``observations``: ``prov_entry`` and ``prov_leaf`` (where an observation's current value is
signed). Observations stored before this step keep NULL there: nothing signed them.
"""

from __future__ import annotations

from sqlalchemy import Connection, inspect, text

from hub.store.batches import dialect_insert
from hub.store.schema import (
    prov_checkpoints,
    prov_log_entries,
    prov_log_head,
    prov_log_subtrees,
    prov_records,
)

# Parents before children (prov_records refers to prov_log_entries).
NEW_TABLES = (prov_log_entries, prov_log_subtrees, prov_log_head, prov_records, prov_checkpoints)

# Constant DDL (no input reaches it). Nullable columns without a default: both stores add them
# by changing the table's definition only, without rewriting a row, however large the table.
# Each only when missing, so that a re-run does not even take PostgreSQL's table lock.
_ADD_COLUMNS = {
    "prov_entry": "ALTER TABLE observations ADD COLUMN prov_entry BIGINT",
    "prov_leaf": "ALTER TABLE observations ADD COLUMN prov_leaf INTEGER",
}


def apply(conn: Connection) -> None:
    """Bring a version-4 database to version 5. Idempotent: a fresh database already has the
    tables and columns from ``metadata.create_all`` in step 1, and the head row is only
    inserted when missing."""
    for table in NEW_TABLES:
        table.create(conn, checkfirst=True)
    conn.execute(
        dialect_insert(conn, prov_log_head)
        .values(id=1, size=0)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    present = {column["name"] for column in inspect(conn).get_columns("observations")}
    for name, statement in _ADD_COLUMNS.items():
        if name not in present:
            conn.execute(text(statement))
