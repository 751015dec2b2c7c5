"""``$count`` (18-088 §9.3.3.5) that stays fast on tens of millions of rows.

An exact ``count(*)`` of a whole 10-million-row table takes seconds on PostgreSQL (FROST
issues #287, #2096 report 100+ s on theirs). So, on PostgreSQL, the count of a whole entity set
(no ``$filter``, no navigation path) above :data:`ESTIMATE_THRESHOLD` rows is the planner's own
estimate: ``pg_class.reltuples`` scaled to the table's current size in pages, the arithmetic the
planner itself does. The response says so (``@auasu.countEstimated``). Below the threshold, with
a filter or a path, and on SQLite (whose ``count(*)`` walks the smallest index quickly) the
count is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, func, select, text

# Above this many rows a whole-set count on PostgreSQL may be an estimate (FROST's default).
ESTIMATE_THRESHOLD = 10_000

# reltuples per page times the pages the table has now: the planner's estimate (it keeps up
# with growth since the last ANALYZE). reltuples is -1 for a table never analysed.
_ESTIMATE_SQL = text(
    "SELECT c.reltuples, c.relpages, "
    "pg_relation_size(c.oid) / current_setting('block_size')::bigint "
    "FROM pg_class c WHERE c.oid = to_regclass(:name)"
)


@dataclass(frozen=True, slots=True)
class Count:
    """A collection's ``@iot.count``: exact, or a planner estimate when ``estimated``."""

    value: int
    estimated: bool = False


def count_rows(
    conn: Connection,
    table: Table,
    conditions: Sequence[ColumnElement[bool]],
    *,
    threshold: int | None = None,
) -> Count:
    """The number of rows of ``table`` meeting ``conditions`` (estimated only when there are
    none, on PostgreSQL, above ``threshold``, default :data:`ESTIMATE_THRESHOLD`)."""
    if not conditions and conn.dialect.name == "postgresql":
        limit = ESTIMATE_THRESHOLD if threshold is None else threshold
        estimate = estimate_rows(conn, table)
        if estimate is not None and estimate > limit:
            return Count(estimate, estimated=True)
    exact = conn.execute(select(func.count()).select_from(table).where(*conditions)).scalar_one()
    return Count(int(exact))


def estimate_rows(conn: Connection, table: Table) -> int | None:
    """PostgreSQL's estimate of the rows in ``table``; None when it has no statistics yet."""
    row: Any = conn.execute(_ESTIMATE_SQL, {"name": table.name}).first()
    if row is None:
        return None
    reltuples, relpages, pages = float(row[0]), int(row[1]), int(row[2])
    if reltuples < 0:
        return None  # never analysed: the caller counts
    if relpages == 0:
        return int(reltuples) if pages == 0 else None
    return round(reltuples / relpages * pages)
